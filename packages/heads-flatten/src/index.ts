// The public surface of @headbench/heads-flatten; its plugins land with the MobileNetV2 and heads work (issue 3).
export {};
