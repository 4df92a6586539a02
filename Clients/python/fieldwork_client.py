#!/usr/bin/env python3
"""Calls the visits service from Python: the customers one page at a time.

The stubs are generated from Proto/ with grpcio-tools into a temporary folder
at start-up, so they always match the contract and nothing generated is kept.
The bearer token is an HS256 JWT minted here with the standard library, with
the claims the services expect (see Shared/FieldworkRuntime/Tokens.swift).

    export FIELDWORK_JWT_SECRET=…   # the services' JWT_SECRET
    Clients/python/run-example.sh fieldwork_client.py --target 127.0.0.1:7101
"""

import argparse
import atexit
import base64
import hashlib
import hmac
import importlib.resources
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import grpc

PROTO_DIR = Path(__file__).resolve().parents[2] / "Proto"


def generate_stubs():
    """Generates the fieldwork.v1 messages and stubs and makes them importable."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="fieldwork-python-stubs-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    # google/protobuf/*.proto ship inside grpc_tools.
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    files = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / "fieldwork").rglob("*.proto"))
    status = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *files]
    )
    if status != 0:
        sys.exit(f"fieldwork_client: protoc failed on {PROTO_DIR}")
    sys.path.insert(0, out)


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_token(secret, person, roles, issuer="fieldwork", audience="fieldwork", valid_for=3600):
    """An HS256 JWT as TokenAuthority signs it: sub, iss, aud, iat, exp and roles."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": person, "iss": issuer, "aud": [audience], "iat": now, "exp": now + valid_for, "roles": sorted(roles)}
    signing_input = ".".join(base64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{base64url(signature)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="127.0.0.1:7101", help="the visits service (host:port, plaintext)")
    parser.add_argument("--secret", default=os.environ.get("FIELDWORK_JWT_SECRET"), help="JWT secret (default $FIELDWORK_JWT_SECRET)")
    parser.add_argument("--person", default="A0001", help="the token's subject (a person id)")
    parser.add_argument("--role", action="append", dest="roles", help="a role of the token (repeatable; default admin, as A0001 is)")
    parser.add_argument("--region", default="", help="only customers of this region")
    args = parser.parse_args()
    if not args.secret:
        parser.error("no JWT secret: pass --secret or set FIELDWORK_JWT_SECRET")
    roles = args.roles or ["admin"]

    generate_stubs()
    from fieldwork.v1 import common_pb2, visits_pb2, visits_pb2_grpc

    metadata = [("authorization", f"Bearer {mint_token(args.secret, args.person, roles)}")]
    with grpc.insecure_channel(args.target) as channel:
        visits = visits_pb2_grpc.VisitsServiceStub(channel)
        print(f"visits at {args.target} as {args.person} [{', '.join(sorted(roles))}]")
        customers = []
        token = ""
        while True:
            request = visits_pb2.ListCustomersRequest(region=args.region, page=common_pb2.PageRequest(page_size=100, page_token=token))
            try:
                response = visits.ListCustomers(request, metadata=metadata, timeout=10)
            except grpc.RpcError as error:
                sys.exit(f"ListCustomers failed: {error.code().name}: {error.details()}")
            customers += response.customers
            token = response.page.next_page_token
            if not token:
                break
        print(f"{len(customers)} customer(s)")
        for customer in customers:
            print(f"  {customer.id}  {customer.name}  region={customer.region}  grade={customer.grade or '-'}  contacts={len(customer.contacts)}")


if __name__ == "__main__":
    main()
