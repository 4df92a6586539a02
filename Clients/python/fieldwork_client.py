#!/usr/bin/env python3
"""Calls the visits service from Python: the customers one page at a time.

The stubs are generated from Proto/ with grpcio-tools into a temporary folder
at start-up, so they always match the contract and nothing generated is kept.
The bearer token comes from the issuer, as for any API client: user tokens are
ES256 JWTs that only the issuer can sign (in development, `fieldctl token`).
The token's subject is the caller: what it sees follows that person's roles.

    export FIELDWORK_TOKEN=$(fieldctl token --person A0001 --role admin)
    Clients/python/run-example.sh fieldwork_client.py --target 127.0.0.1:7101
"""

import argparse
import atexit
import importlib.resources
import os
import shutil
import sys
import tempfile
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="127.0.0.1:7101", help="the visits service (host:port, plaintext)")
    parser.add_argument("--token", default=os.environ.get("FIELDWORK_TOKEN"), help="bearer token (default $FIELDWORK_TOKEN)")
    parser.add_argument("--region", default="", help="only customers of this region")
    args = parser.parse_args()
    if not args.token:
        parser.error("no token: pass --token or set FIELDWORK_TOKEN (fieldctl token mints one in development)")

    generate_stubs()
    from fieldwork.v1 import common_pb2, visits_pb2, visits_pb2_grpc

    metadata = [("authorization", f"Bearer {args.token}")]
    with grpc.insecure_channel(args.target) as channel:
        visits = visits_pb2_grpc.VisitsServiceStub(channel)
        print(f"visits at {args.target}")
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
