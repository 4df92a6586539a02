#!/usr/bin/env bash
# Regenerates Shared/FieldworkProto from Proto/.
#   protoc: Debian's protobuf-compiler.
#   plugins: protoc-gen-swift (swift-protobuf) and protoc-gen-grpc-swift-2
#            (grpc-swift-protobuf), built from this package's dependencies so the
#            generated code always matches the library versions we link.
# Usage: Proto/generate.sh [OUTPUT_DIR]   (default Shared/FieldworkProto)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-Shared/FieldworkProto}
command -v protoc >/dev/null || { echo "generate.sh: protoc missing (apt-get install protobuf-compiler)" >&2; exit 2; }
swift build --product protoc-gen-swift >&2
swift build --product protoc-gen-grpc-swift-2 >&2
bin=$(swift build --show-bin-path)
mkdir -p "$out"
find "$out" \( -name '*.pb.swift' -o -name '*.grpc.swift' \) -delete
protos=$(cd Proto && find fieldwork grpc -name '*.proto' | sort)
(cd Proto && protoc -I . \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --swift_out="../$out" --swift_opt=Visibility=Public \
  --grpc-swift-2_out="../$out" --grpc-swift-2_opt=Visibility=Public \
  $protos)
echo "generated $(find "$out" -name '*.swift' | wc -l) files in $out" >&2
