"""Exporters: write a loaded model in another runtime's format (as setfit's ``exporters/`` does).

* ``onnx.export_onnx``: ONNX graphs checked against torch, optionally int8 (``uniclass export onnx``);
* ``cli``: the ``uniclass export`` subcommand.

Exporters read a model through ``loading`` and ``engine`` (never through ``Classifier``), and the runtime
side of an export lives in ``backends`` (``backends.onnx_runtime``), which never imports this package.
Nothing is imported here: ``exporters.onnx`` needs torch and onnx.
"""
