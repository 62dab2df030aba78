"""The cipher order of every connection (collectors.ssh.aead_first, used for Linux hosts, network
devices and jump hosts alike): AES-GCM first, because an AEAD cipher spares paramiko the HMAC
of each packet and its pure-Python MAC comparison; every other cipher paramiko knows is still
offered, so a server without GCM (an old network device) negotiates as before."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import paramiko
import pytest
from support.sshd import SshdFleet, generate_ed25519_key

from collectors.hostkeys import KnownHosts
from collectors.ssh import AuthMaterial, Endpoint, aead_first, open_transport
from config.models import SshSettings
from config.secrets import ResolvedCredential

GCM = "aes128-gcm@openssh.com"


def key_auth(key_file: Path) -> AuthMaterial:
    return AuthMaterial(ResolvedCredential(name="key", username="root", password=None,
                                           key_file=key_file, passphrase=None))


def test_gcm_comes_first_and_no_cipher_is_dropped() -> None:
    with socket.socket() as sock:  # never connected: only paramiko's own cipher list
        offered = paramiko.Transport(sock).get_security_options().ciphers
    ordered = aead_first(offered)
    assert ordered[:2] == (GCM, "aes256-gcm@openssh.com")
    assert sorted(ordered) == sorted(offered)
    assert aead_first(("aes256-gcm@openssh.com", "aes128-ctr", "3des-cbc")) == (
        "aes256-gcm@openssh.com", "aes128-ctr", "3des-cbc")
    assert aead_first(("aes128-ctr", "3des-cbc")) == ("aes128-ctr", "3des-cbc")


class _AnyKey(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL


@pytest.mark.parametrize("offered", ["aes128-ctr", "aes256-cbc"])
def test_a_server_without_gcm_negotiates_a_cipher_it_offers(tmp_path: Path, offered: str
                                                             ) -> None:
    generate_ed25519_key(tmp_path / "host")
    generate_ed25519_key(tmp_path / "client")
    host_key = paramiko.Ed25519Key(filename=str(tmp_path / "host"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    servers: list[paramiko.Transport] = []

    def serve() -> None:
        conn, _ = listener.accept()
        server = paramiko.Transport(conn)
        server.get_security_options().ciphers = (offered,)
        server.add_server_key(host_key)
        servers.append(server)
        server.start_server(server=_AnyKey())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    settings = SshSettings(known_hosts=known, connect_timeout=5, retries=0)
    transport = open_transport(Endpoint("old-device", "127.0.0.1", port),
                               key_auth(tmp_path / "client"),
                               KnownHosts([known], tmp_path / "learned"), settings)
    try:
        assert transport.is_authenticated()
        assert (transport.local_cipher, transport.remote_cipher) == (offered, offered)
    finally:
        transport.close()
        thread.join(5)
        for server in servers:
            server.close()
        listener.close()


@pytest.mark.sshd
def test_openssh_negotiates_gcm_directly_and_through_a_jump_host(ssh_fleet: SshdFleet,
                                                                 tmp_path: Path) -> None:
    assert ssh_fleet.port is not None
    settings = SshSettings(known_hosts=ssh_fleet.known_hosts, connect_timeout=3, retries=0)
    auth = key_auth(ssh_fleet.client_key)
    known = KnownHosts([ssh_fleet.known_hosts], tmp_path / "learned")
    hop, target = ssh_fleet.hosts[13], ssh_fleet.hosts[14]
    jump = open_transport(Endpoint(hop.name, hop.address, ssh_fleet.port), auth, known,
                          settings)
    try:
        inner = open_transport(Endpoint(target.name, target.address, ssh_fleet.port), auth,
                               known, settings, via=jump)
        try:
            for transport in (jump, inner):
                assert (transport.local_cipher, transport.remote_cipher) == (GCM, GCM)
            channel = inner.open_session()
            channel.exec_command("echo gcm")
            assert channel.makefile("rb").read() == b"gcm\n"
            assert channel.recv_exit_status() == 0
        finally:
            inner.close()
    finally:
        jump.close()
