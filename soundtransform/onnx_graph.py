"""A Keras generator written as an ONNX graph, layer by layer, channels first.

The generators are built from a few layers (`soundtransform.layers`):
convolutions, instance norms, activations, nearest-neighbour resizes, skips and
residual adds.  Each becomes the ONNX operator of the same meaning, in NCHW,
with every shape fixed but the batch, so ONNX Runtime sees plain convolutions
and ``InstanceNormalization`` ops with no layout changes or shape arithmetic
between them (a graph traced from TensorFlow carries both).

A resize followed by a 3 x 3 convolution is folded as in
`networks.subpixel`: four 2 x 2 convolutions of the small map, one per output
phase (each with its own asymmetric padding), interleaved by ``DepthToSpace``.

Only the layers the project's generators use are known; any other layer is a
`ParameterError` that names it.
"""

import numpy as np

from soundtransform.errors import ParameterError

OPSET = 17
_ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": None}
_PASS = ("Dropout", "Identity", "InputLayer")


def generator_to_onnx(model, metadata=None):
    """``model`` (a functional Keras model, NHWC, one channel in and out) as an ``onnx.ModelProto``.

    The graph's input ``images`` and output ``images_out`` are float32
    ``[n, height, width, 1]``, ``n`` open.  ``metadata`` (str -> str) goes into
    the model's metadata.
    """
    import keras
    import onnx
    from onnx import TensorProto, helper

    plain = keras.Model(model.inputs, model.outputs)
    config = plain.get_config()
    writer = _Writer(plain)
    (input_name, _, _), = config["input_layers"]
    (output_name, _, _), = config["output_layers"]
    shape = plain.input_shape
    if len(shape) != 4 or shape[-1] != 1 or None in shape[1:]:
        raise ParameterError(f"only a fixed-size one-channel image generator can be written as ONNX, not {shape}")
    height, width = shape[1], shape[2]
    writer.nodes.append(helper.make_node("Reshape", ["images", writer.const("nchw", [-1, 1, height, width])],
                                         [input_name]))
    writer.shapes[input_name] = (1, height, width)
    consumers = {}
    for layer in config["layers"]:
        for tensor in _inputs(layer):
            consumers.setdefault(tensor, []).append(layer)
    for layer in config["layers"]:
        if layer["class_name"] != "InputLayer":
            writer.layer(layer, consumers)
    channels, h, w = writer.shapes[writer.alias(output_name)]
    if channels != 1:
        raise ParameterError(f"the generator's output has {channels} channels; one is needed")
    writer.nodes.append(helper.make_node("Reshape", [writer.alias(output_name), writer.const("nhwc", [-1, h, w, 1])],
                                         ["images_out"]))
    graph = helper.make_graph(
        writer.nodes, model.name,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", height, width, 1])],
        [helper.make_tensor_value_info("images_out", TensorProto.FLOAT, ["n", h, w, 1])],
        initializer=writer.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="soundtransform")
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto


def _inputs(layer):
    names = []

    def walk(arg):
        if isinstance(arg, (list, tuple)):
            for a in arg:
                walk(a)
        elif isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            names.append(arg["config"]["keras_history"][0])

    for node in layer["inbound_nodes"]:
        walk(node.get("args", []))
    return names


class _Writer:
    def __init__(self, model):
        self.model = model
        self.nodes, self.initializers = [], []
        self.shapes = {}  # tensor name -> (channels, height, width)
        self.aliases = {}  # a pass-through layer's name -> the tensor it passes
        self.folded = set()  # resizes whose convolutions were folded

    def alias(self, name):
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def const(self, name, value, dtype=np.int64):
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, output, **attrs):
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def layer(self, layer, consumers):
        kind, name, c = layer["class_name"], layer["name"], layer["config"]
        inputs = [self.alias(n) for n in _inputs(layer)]
        if kind in _PASS:
            self.aliases[name] = inputs[0]
            return
        if kind == "UpSampling2D":
            convs = consumers.get(name, [])
            if tuple(c["size"]) == (2, 2) and c["interpolation"] == "nearest" and convs \
                    and all(_foldable(conv) for conv in convs):
                self.aliases[name] = inputs[0]
                self.folded.add(name)
                return
            raise ParameterError(f"layer {name}: only a nearest x2 resize followed by 3x3 convolutions is written")
        if kind in ("Conv2D", "SubpixelConv2D"):
            up = kind == "SubpixelConv2D" or _inputs(layer)[0] in self.folded
            self.conv(name, inputs[0], c, up)
        elif kind == "GroupNormalization":
            channels = self.shapes[inputs[0]][0]
            if c["groups"] not in (-1, channels) or c["axis"] not in (-1, 3):
                raise ParameterError(f"layer {name}: only instance norm (one group per channel) is written")
            weights = list(self.model.get_layer(name).get_weights())
            gamma = weights.pop(0) if c["scale"] else np.ones(channels, np.float32)
            beta = weights.pop(0) if c["center"] else np.zeros(channels, np.float32)
            self.node("InstanceNormalization", [inputs[0], self.const(name + "/gamma", gamma, np.float32),
                                                self.const(name + "/beta", beta, np.float32)],
                      name, epsilon=float(c["epsilon"]))
            self.shapes[name] = self.shapes[inputs[0]]
        elif kind == "LeakyReLU":
            self.node("LeakyRelu", inputs, name, alpha=float(c.get("negative_slope", c.get("alpha", 0.3))))
            self.shapes[name] = self.shapes[inputs[0]]
        elif kind in ("Activation", "ReLU"):
            op = "Relu" if kind == "ReLU" else _ACTIVATIONS.get(c["activation"], "unknown")
            if op == "unknown":
                raise ParameterError(f"layer {name}: activation {c['activation']!r} is not written")
            if op is None:
                self.aliases[name] = inputs[0]
                return
            self.node(op, inputs, name)
            self.shapes[name] = self.shapes[inputs[0]]
        elif kind == "Concatenate":
            if c["axis"] not in (-1, 3):
                raise ParameterError(f"layer {name}: only a concatenation of channels is written")
            self.node("Concat", inputs, name, axis=1)
            first = self.shapes[inputs[0]]
            self.shapes[name] = (sum(self.shapes[i][0] for i in inputs),) + first[1:]
        elif kind == "Add":
            out = inputs[0]
            for i, other in enumerate(inputs[1:]):
                out = self.node("Add", [out, other], name if i == len(inputs) - 2 else f"{name}/{i}")
            self.shapes[name] = self.shapes[inputs[0]]
        else:
            raise ParameterError(f"layer {name} ({kind}) cannot be written as ONNX")

    def conv(self, name, x, c, up):
        weights = self.model.get_layer(name).get_weights()
        kernel = weights[0]  # [kh, kw, in, out]
        bias = weights[1] if c["use_bias"] else None
        kh, kw = kernel.shape[:2]
        sh, sw = c["strides"]
        if tuple(c["dilation_rate"]) != (1, 1) or c.get("groups", 1) != 1:
            raise ParameterError(f"layer {name}: dilated or grouped convolutions are not written")
        _, h, w = self.shapes[x]
        out = name + "/conv" if _ACTIVATIONS.get(c["activation"]) else name
        if up:
            self.subpixel(name, x, kernel, bias, out)
            h, w = 2 * h, 2 * w
        else:
            pads = _same_pads(h, kh, sh) + _same_pads(w, kw, sw) if c["padding"] == "same" else (0, 0, 0, 0)
            inputs = [x, self.const(name + "/kernel", kernel.transpose(3, 2, 0, 1), np.float32)]
            if bias is not None:
                inputs.append(self.const(name + "/bias", bias, np.float32))
            self.node("Conv", inputs, out, kernel_shape=[kh, kw], strides=[sh, sw],
                      pads=[pads[0], pads[2], pads[1], pads[3]])
            h = (h + pads[0] + pads[1] - kh) // sh + 1
            w = (w + pads[2] + pads[3] - kw) // sw + 1
        self.shapes[out] = (kernel.shape[3], h, w)
        op = _ACTIVATIONS.get(c["activation"])
        if op is not None:
            self.node(op, [out], name)
            self.shapes[name] = self.shapes[out]

    def subpixel(self, name, x, kernel, bias, out):
        """Resize x2 (nearest) then ``kernel`` (3 x 3, same), as one stride-2 4 x 4 transposed convolution."""
        inputs = [x, self.const(name + "/kernel", np.einsum("pi,qj,ijco->copq", _TAPS, _TAPS, kernel), np.float32)]
        if bias is not None:
            inputs.append(self.const(name + "/bias", bias, np.float32))
        self.node("ConvTranspose", inputs, out, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])


# Output row 2i + a of the transposed convolution (stride 2, pads 1) takes input row i - 1 + a with tap 3 - a and
# row i + a with tap 1 - a; those are the 3 x 3 kernel's rows (W0, W1 + W2) for a = 0 and (W0 + W1, W2) for a = 1.
_TAPS = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], np.float32)  # tap -> 3 x 3 rows summed


def _same_pads(size, k, s):
    """TensorFlow's "same" padding of one axis: (before, after), the odd one after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _foldable(layer):
    c = layer["config"]
    return (layer["class_name"] == "Conv2D" and tuple(c["kernel_size"]) == (3, 3)
            and tuple(c["strides"]) == (1, 1) and c["padding"] == "same" and tuple(c["dilation_rate"]) == (1, 1))
