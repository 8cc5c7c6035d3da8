"""edge-model: makes an ONNX model fit an edge-agent device.

`edge-model optimize MODEL` makes variants (graph-optimized, int8, fp16) and measures each one on
the same held-out data; `edge-model fit` measures variants on the device, through the agent, under
its caps, and writes the deployment with the limits that held. See docs/models.md.
"""
