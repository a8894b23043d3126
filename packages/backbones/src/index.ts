// The public surface of @headbench/backbones; its plugins land with the MobileNetV2 and heads work (issue 3).
export {};
