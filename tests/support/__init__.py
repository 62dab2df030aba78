"""Test support code: real OpenSSH servers on loopback (:mod:`support.sshd`)."""
