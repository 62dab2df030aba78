"""The customer inspection report (HTML/PDF, zh-CN/en). Built on the stored results; the
report itself is tracked in its own issue and not part of this release."""
