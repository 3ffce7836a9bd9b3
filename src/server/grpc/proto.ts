// The gRPC package definitions, loaded once from proto/ with the options both the server and clients use.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';

export const DFGAN_PROTO = fileURLToPath(new URL('../../../proto/dfgan.proto', import.meta.url));
export const SERVICE_NAME = 'dfgan.v1.TextToImage';

/** Field names as written in the .proto (camelCase there already), absent optionals left undefined, oneofs named. */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true };

let cached: protoLoader.PackageDefinition | undefined;

/** dfgan.v1 and grpc.health.v1 together, so that reflection describes both. */
export function packageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([DFGAN_PROTO, HEALTH_PROTO], LOADER_OPTIONS);
  return cached;
}

/** A client constructor for the TextToImage service; its `.service` is what the server implements. */
export function textToImageClient(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
    dfgan: { v1: { TextToImage: grpc.ServiceClientConstructor } };
  };
  return pkg.dfgan.v1.TextToImage;
}
