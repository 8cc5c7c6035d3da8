"""Makes the variants of an ONNX model, each with a well-kept library, never by hand:

- `fp32`: the model as given;
- `optimized`: onnxruntime's offline graph optimisation at the extended level (constant folding,
  node fusions), which stays portable across CPUs (the level above it bakes in this CPU's layout);
- `dynamic-int8`: weights quantized to int8 ahead of time, activations at run time (onnxruntime);
- `static-int8`: weights and activations int8, QDQ format, per-channel weights, activation ranges
  calibrated on the user's data (onnxruntime);
- `fp16`: weights and arithmetic in float16, inputs and outputs kept float32 (onnxconverter-common).
"""

import logging
import os
import shutil
import tempfile
import warnings

import onnx
import onnxruntime as ort
from onnx import version_converter

ALL = ["fp32", "optimized", "dynamic-int8", "static-int8", "fp16"]

# Per-channel QDQ needs DequantizeLinear's `axis`, which came with opset 13.
PER_CHANNEL_OPSET = 13


class VariantError(Exception):
    """A variant that cannot be made from this model; the message says why."""


def make(name, source, destination, calibration=None, calibration_method="minmax"):
    """Writes variant `name` of the model at `source` to `destination`; returns a note for the
    report (how static int8 was calibrated), or None."""
    # onnxruntime's quantizer logs each node it skips, its graph code each initializer it drops,
    # and the fp16 converter each tiny weight it rounds: noise, not news, for a user.
    logging.getLogger().setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)
    warnings.filterwarnings("ignore", module="onnxconverter_common")
    if name == "fp32":
        shutil.copyfile(source, destination)
    elif name == "optimized":
        _optimized(source, destination)
    elif name == "dynamic-int8":
        _dynamic_int8(source, destination)
    elif name == "static-int8":
        if calibration is None:
            raise VariantError("static int8 needs calibration data: the task defines no calibration()")
        note = _static_int8(source, destination, calibration, calibration_method)
        _keep_metadata(source, destination)
        return note
    elif name == "fp16":
        _fp16(source, destination)
    else:
        raise VariantError("unknown variant %r (known: %s)" % (name, ", ".join(ALL)))
    _keep_metadata(source, destination)
    return None


def _optimized(source, destination):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = destination
    ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _prepared(source, folder):
    """The model with shapes inferred and the graph cleaned, as the quantizer expects, at an opset
    that allows per-channel QDQ."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = os.path.join(folder, "prepared.onnx")
    source = os.path.abspath(source)
    # Symbolic shape inference leaves a temporary model in the working folder: make that ours.
    here = os.getcwd()
    os.chdir(folder)
    try:
        quant_pre_process(source, prepared)
    except Exception:
        # Symbolic shape inference gives up on some exported graphs (dynamic dims it cannot
        # name); ONNX's own shape inference is enough for the quantizer.
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
    finally:
        os.chdir(here)
    model = onnx.load(prepared)
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
    if opset < PER_CHANNEL_OPSET:
        model = version_converter.convert_version(model, PER_CHANNEL_OPSET)
        onnx.save(model, prepared)
    return prepared


def _dynamic_int8(source, destination):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        quantize_dynamic(_prepared(source, folder), destination, weight_type=QuantType.QInt8, per_channel=True)


# Calibration samples observed together: onnxruntime keeps every intermediate tensor of the samples
# in one pass (hundreds of MB a sample for a detector at camera resolution: 48 samples took 9.8 GB),
# so the quantizer is given them a few at a time, its ranges or histograms merged between passes.
CALIBRATION_STRIDE = 4


class _Calibration:
    """Feeds the user's calibration inputs to the quantizer, a range of them at a time."""

    def __init__(self, samples):
        # The quantizer wants the count divisible by the stride: the last few are left out.
        self._samples = samples[:len(samples) - len(samples) % CALIBRATION_STRIDE] \
            if len(samples) >= CALIBRATION_STRIDE else samples
        self._pending = iter(self._samples)

    def __len__(self):
        return len(self._samples)

    def set_range(self, start_index, end_index):
        self._pending = iter(self._samples[start_index:end_index])

    def get_next(self):
        return next(self._pending, None)

    def rewind(self):
        self._pending = iter(self._samples)


def _static_int8(source, destination, calibration, method):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    reader_type = type("Reader", (_Calibration, CalibrationDataReader), {})
    if not calibration:
        raise VariantError("static int8 needs calibration data: the task's calibration() returned nothing")

    def quantize(prepared, calibrate_method):
        reader = reader_type(list(calibration))
        quantize_static(prepared, destination, reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=calibrate_method,
                        extra_options={"CalibStridedMinMax": min(CALIBRATION_STRIDE, len(reader))})

    used = len(_Calibration(list(calibration)))
    dropped = "" if used == len(calibration) else ", %d left out to make whole groups of %d" % (
        len(calibration) - used, CALIBRATION_STRIDE)
    with tempfile.TemporaryDirectory() as folder:
        prepared = _prepared(source, folder)
        try:
            quantize(prepared, methods[method])
        except Exception as error:
            if method == "minmax":
                raise
            # The histogram methods fail on a graph with nothing they can observe (a classifier
            # made of ai.onnx.ml operators, say); min-max then quantizes what there is.
            quantize(prepared, CalibrationMethod.MinMax)
            return "calibrated with minmax: %s failed (%s) on %d samples%s" % (
                method, (str(error).splitlines() or [type(error).__name__])[0][:120], used, dropped)
    return "calibrated with %s on %d samples%s" % (method, used, dropped)


def _fp16(source, destination):
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(source), keep_io_types=True)
    onnx.save(model, destination)


def _keep_metadata(source, destination):
    """Copies the model's metadata (a character list, labels) onto the variant when the tool that
    made it dropped them: a function may read them from the model."""
    original = onnx.load(source, load_external_data=False)
    if not original.metadata_props:
        return
    variant = onnx.load(destination)
    present = {entry.key for entry in variant.metadata_props}
    missing = [entry for entry in original.metadata_props if entry.key not in present]
    if missing:
        for entry in missing:
            variant.metadata_props.add(key=entry.key, value=entry.value)
        onnx.save(variant, destination)
