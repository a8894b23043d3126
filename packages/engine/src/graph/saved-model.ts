import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

/**
 * The part of TensorFlow's protocol buffers that a SavedModel holding one frozen-free inference
 * graph needs, field numbers as in tensorflow/core/framework and tensorflow/core/protobuf
 * (checked against tensorflow 2.21's descriptors). protobufjs encodes them; nothing here is
 * read back except by TensorFlow itself.
 */
const PROTO = `
syntax = "proto3";
package tensorflow;

enum DataType { DT_INVALID = 0; DT_FLOAT = 1; DT_INT32 = 3; DT_BOOL = 10; }

message TensorShapeProto {
  message Dim { int64 size = 1; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}

message TensorProto {
  DataType dtype = 1;
  TensorShapeProto tensor_shape = 2;
  bytes tensor_content = 4;
}

message AttrValue {
  message ListValue {
    repeated bytes s = 2;
    repeated int64 i = 3;
    repeated float f = 4;
    repeated DataType type = 6;
  }
  oneof value {
    ListValue list = 1;
    bytes s = 2;
    int64 i = 3;
    float f = 4;
    bool b = 5;
    DataType type = 6;
    TensorShapeProto shape = 7;
    TensorProto tensor = 8;
  }
}

message NodeDef {
  string name = 1;
  string op = 2;
  repeated string input = 3;
  map<string, AttrValue> attr = 5;
}

message VersionDef { int32 producer = 1; int32 min_consumer = 2; }

message GraphDef {
  repeated NodeDef node = 1;
  VersionDef versions = 4;
}

message TensorInfo {
  string name = 1;
  DataType dtype = 2;
  TensorShapeProto tensor_shape = 3;
}

message SignatureDef {
  map<string, TensorInfo> inputs = 1;
  map<string, TensorInfo> outputs = 2;
  string method_name = 3;
}

message MetaGraphDef {
  message MetaInfoDef {
    string meta_graph_version = 1;
    repeated string tags = 4;
    string tensorflow_version = 5;
  }
  MetaInfoDef meta_info_def = 1;
  GraphDef graph_def = 2;
  map<string, SignatureDef> signature_def = 5;
}

message SavedModel {
  int64 saved_model_schema_version = 1;
  repeated MetaGraphDef meta_graphs = 2;
}
`;

/** TensorFlow 2.21's GraphDef version (`tf.version.GRAPH_DEF_VERSION`). */
const GRAPH_DEF_VERSION = 2474;

export const DT_FLOAT = 1;
export const DT_INT32 = 3;
export const DT_BOOL = 10;
export type DType = typeof DT_FLOAT | typeof DT_INT32 | typeof DT_BOOL;

/** An attribute value, in protobufjs' object form of `AttrValue`. */
export type Attr =
  | { type: DType }
  | { i: number }
  | { f: number }
  | { b: boolean }
  | { s: Uint8Array }
  | { shape: Shape }
  | { tensor: { dtype: DType; tensorShape: Shape; tensorContent: Uint8Array } }
  | { list: { i?: number[]; s?: Uint8Array[]; f?: number[]; type?: DType[] } };

export interface Shape {
  dim: { size: number }[];
}

export interface NodeDef {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, Attr>;
}

export interface TensorInfo {
  /** `node:output`, e.g. `input:0`. */
  name: string;
  dtype: DType;
  shape: readonly (number | null)[];
}

export interface Signature {
  inputs: Record<string, TensorInfo>;
  outputs: Record<string, TensorInfo>;
}

export const shapeOf = (dims: readonly (number | null)[]): Shape => ({ dim: dims.map((d) => ({ size: d ?? -1 })) });

let savedModelType: protobuf.Type | undefined;

/** Encodes a SavedModel with one meta graph tagged `serve` whose signature is `serving_default`. */
export function encodeSavedModel(nodes: readonly NodeDef[], signature: Signature): Uint8Array {
  savedModelType ??= protobuf.parse(PROTO, { keepCase: false }).root.lookupType('tensorflow.SavedModel');
  const info = (t: TensorInfo) => ({ name: t.name, dtype: t.dtype, tensorShape: shapeOf(t.shape) });
  const mapInfo = (m: Record<string, TensorInfo>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, info(v)]));
  const message = savedModelType.fromObject({
    savedModelSchemaVersion: 1,
    metaGraphs: [
      {
        metaInfoDef: { metaGraphVersion: 'headbench', tags: ['serve'], tensorflowVersion: '2.21.0' },
        graphDef: { node: nodes, versions: { producer: GRAPH_DEF_VERSION, minConsumer: 0 } },
        signatureDef: {
          serving_default: {
            inputs: mapInfo(signature.inputs),
            outputs: mapInfo(signature.outputs),
            methodName: 'tensorflow/serving/predict',
          },
        },
      },
    ],
  });
  return savedModelType.encode(message).finish();
}

/** Writes `saved_model.pb` into `dir` (created); a SavedModel without variables needs nothing else. */
export function writeSavedModel(dir: string, nodes: readonly NodeDef[], signature: Signature): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'saved_model.pb'), encodeSavedModel(nodes, signature));
}
