"""``probidad certification …``: the signing key and offline checks of exported credentials."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

app = typer.Typer(help="Certificates: signing key, offline verification of Open Badges credentials.",
                  no_args_is_help=True)


@app.command("keygen")
def keygen(path: Path = typer.Argument(..., help="Where to write the PEM (PKCS#8) Ed25519 private key.")) -> None:
    """Create a signing key for PROBIDAD_SIGNING_KEY_PATH (share it among all instances; keep it secret).

    Prints its key id and public key: the entry for PROBIDAD_RETIRED_SIGNING_KEYS once it is rotated out."""
    from services.certification.signing import PublicKey, b64url

    if path.exists():
        raise typer.BadParameter(f"{path} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    public = PublicKey(key.public_key())
    typer.echo(f"wrote {path}")
    typer.echo(f"key id: {public.key_id}")
    typer.echo(f"public key: {b64url(public.raw)}")


@app.command("public-key")
def public_key() -> None:
    """Print the public key certificates are signed with (as the well-known document publishes it).

    Its ``public_key`` is what goes into PROBIDAD_RETIRED_SIGNING_KEYS when this key is rotated out."""
    from services.certification.settings import CertificationSettings
    from services.certification.signing import CertificateSigner, b64url, load_or_create_key

    settings = CertificationSettings()
    public = CertificateSigner(load_or_create_key(settings.signing_key_path, settings.generated_key_path)).public
    typer.echo(json.dumps({"kid": public.key_id, "public_key": b64url(public.raw), "did": public.did_key,
                           "jwk": public.jwk()}, indent=2))


@app.command("verify-badge")
def verify_badge(path: Path = typer.Argument(..., exists=True, help="An exported Open Badges 3.0 credential (JSON)."),
                 did: str = typer.Option("", help="Require this issuer key (did:key from the well-known document).")
                 ) -> None:
    """Check an exported credential's Ed25519 proof offline; exit 1 if it does not hold."""
    from services.certification.badges import verify_credential
    from services.certification.signing import PublicKey

    credential = json.loads(path.read_text(encoding="utf-8"))
    expected = PublicKey.from_did_key(did) if did else None
    if verify_credential(credential, expected):
        typer.echo(f"valid: {credential.get('name')} — issued by {credential['issuer'].get('name')}")
        return
    typer.echo("NOT valid: the proof does not match this credential (or this issuer)", err=True)
    raise typer.Exit(1)
