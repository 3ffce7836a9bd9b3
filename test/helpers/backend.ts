// Tests run on the backend this machine would pick for real work (`DFGAN_TEST_BACKEND` overrides, e.g. cpu).
import { selectBackend, parseBackendChoice, type BackendInfo } from '../../src/model/backend.js';

let chosen: Promise<BackendInfo> | undefined;
export function useTestBackend(): Promise<BackendInfo> {
  chosen ??= selectBackend(parseBackendChoice(process.env.DFGAN_TEST_BACKEND ?? 'auto'));
  return chosen;
}
