"""Network devices: netmiko sessions, per-platform parsers and the normalised facts they give."""
