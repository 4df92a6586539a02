#!/usr/bin/env python3
"""Lists a service's RPCs through gRPC server reflection, like `grpcurl list`.

No stubs and no token: the schema comes from the server (reflection is open,
like health). grpcio-reflection's client speaks grpc.reflection.v1alpha, which
the services answer besides v1.

    Clients/python/run-example.sh list_services.py --target 127.0.0.1:7101 \\
        --describe fieldwork.v1.VisitsService.ListCustomers
"""

import argparse
import sys

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

SCALARS = {
    value: name[len("TYPE_"):].lower()
    for name, value in vars(FieldDescriptor).items()
    if name.startswith("TYPE_") and name not in ("TYPE_MESSAGE", "TYPE_ENUM", "TYPE_GROUP")
}


def field_type(field):
    if field.message_type is not None:
        name = field.message_type.full_name
    elif field.enum_type is not None:
        name = field.enum_type.full_name
    else:
        name = SCALARS[field.type]
    return f"repeated {name}" if field.is_repeated else name


def describe(pool, method_name):
    """`rpc Name(Input) returns (Output)` and the input message's fields."""
    service_name, _, method = method_name.rpartition(".")
    service = pool.FindServiceByName(service_name)
    rpc = service.methods_by_name[method]
    stream_in = "stream " if rpc.client_streaming else ""
    stream_out = "stream " if rpc.server_streaming else ""
    print(f"{rpc.full_name}:")
    print(f"  rpc {rpc.name}({stream_in}{rpc.input_type.full_name}) returns ({stream_out}{rpc.output_type.full_name})")
    print(f"  message {rpc.input_type.full_name} {{")
    for field in rpc.input_type.fields:
        print(f"    {field_type(field)} {field.name} = {field.number};")
    print("  }")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="127.0.0.1:7101", help="a Fieldwork service (host:port, plaintext)")
    parser.add_argument("--describe", metavar="SERVICE.METHOD", help="also describe this method")
    args = parser.parse_args()

    with grpc.insecure_channel(args.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        try:
            services = sorted(database.get_services())
        except grpc.RpcError as error:
            sys.exit(f"reflection failed: {error.code().name}: {error.details()}")
        print(f"services at {args.target}:")
        for name in services:
            print(f"  {name}")
        if args.describe:
            describe(DescriptorPool(database), args.describe)


if __name__ == "__main__":
    main()
