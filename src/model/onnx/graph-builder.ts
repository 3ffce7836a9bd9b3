// A small builder of ONNX graphs on top of onnx-proto's generated messages: named float initialisers, nodes with
// typed attributes, fresh value names. Only what the exporters need.
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

// onnx-proto is CommonJS without named-export hints: its namespace comes from the default export.
const { onnx } = onnxProto;

export type Attr = number | number[] | string | { float: number };

function attribute(name: string, v: Attr): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}

export class GraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  /** A new value name with a readable prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  /** A float32 constant (weights), stored as little-endian raw bytes. */
  floats(name: string, dims: number[], data: Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`initialiser ${name}: ${data.length} values for shape [${dims}]`);
    if (this.names.has(name)) throw new Error(`value ${name} defined twice`);
    this.names.add(name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes });
    return name;
  }

  /** An int64 constant (shapes, axes). */
  ints(prefix: string, values: number[]): string {
    const name = this.fresh(prefix);
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(raw.buffer) });
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputName?: string): string {
    const out = outputName ?? this.fresh(opType.toLowerCase());
    if (outputName) this.names.add(outputName);
    this.nodes.push({
      opType,
      input: inputs,
      output: [out],
      name: `${opType}_${this.nodes.length}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** The finished model: float inputs and outputs whose first dimension is the symbolic batch size. */
  model(opts: {
    name: string;
    inputs: Array<{ name: string; dims: Array<number | string> }>;
    outputs: Array<{ name: string; dims: Array<number | string> }>;
    opset: number;
    producer: { name: string; version: string };
    metadata: Record<string, string>;
  }): Uint8Array {
    const valueInfo = (v: { name: string; dims: Array<number | string> }): OnnxTypes.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: opts.opset }],
      producerName: opts.producer.name,
      producerVersion: opts.producer.version,
      graph: {
        name: opts.name,
        node: this.nodes,
        initializer: this.initializers,
        input: opts.inputs.map(valueInfo),
        output: opts.outputs.map(valueInfo),
      },
      metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
