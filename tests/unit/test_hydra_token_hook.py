"""The token hook beside the local Hydra turns a client's metadata into its token's claims: the role,
institution and instructor only, never the rest of the metadata."""

from __future__ import annotations

from probidad.ops.hydractl import token_claims


def test_the_hook_answers_the_clients_role_and_institution_and_nothing_else_of_its_metadata():
    metadata = {"liaison-in-dif": {"role": "liaison", "institution": "in-dif", "contact": "ana@dif.example",
                                   "instructor": 7}}
    asked: list[str] = []

    def lookup(client_id: str) -> dict:
        asked.append(client_id)
        return metadata[client_id]

    claims = token_claims({"request": {"client_id": "liaison-in-dif", "grant_types": ["client_credentials"]}},
                          lookup)
    assert claims == {"role": "liaison", "institution": "in-dif"}  # a non-text instructor is no claim
    assert asked == ["liaison-in-dif"]
    assert token_claims({"request": {}}, lookup) == {}
    assert asked == ["liaison-in-dif"]  # no client, no lookup
