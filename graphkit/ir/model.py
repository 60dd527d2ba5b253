"""Model: the top of the IR — a Graph plus the model-level fields of a ModelProto."""
from __future__ import annotations

from graphkit.ir.graph import Graph


class Model:
    """ir_version, opset_imports ({domain: version}; "" is the default ONNX domain), producer,
    doc/metadata, model-local `functions` (FunctionProtos, kept as loaded) and the main `graph`.

    `source_path` is the file it was loaded from (None if built in memory or from bytes).
    """

    __slots__ = (
        "_proto",
        "configuration",
        "doc_string",
        "domain",
        "functions",
        "graph",
        "ir_version",
        "metadata_props",
        "model_version",
        "opset_imports",
        "producer_name",
        "producer_version",
        "source_path",
        "training_info",
    )

    def __init__(self, graph: Graph, *, ir_version: int = 10, opset_imports: dict[str, int] | None = None,
                 producer_name: str = "graphkit", producer_version: str = "", domain: str = "",
                 model_version: int = 0, doc_string: str = ""):
        self.graph = graph
        self.ir_version = ir_version
        self.opset_imports: dict[str, int] = dict(opset_imports) if opset_imports else {"": 21}
        self.producer_name, self.producer_version = producer_name, producer_version
        self.domain, self.model_version, self.doc_string = domain, model_version, doc_string
        self.metadata_props: dict[str, str] = {}
        self.functions: list = []       # onnx.FunctionProto
        self.training_info: list = []   # onnx.TrainingInfoProto, kept as loaded
        self.configuration: list = []   # onnx.DeviceConfigurationProto, kept as loaded
        self.source_path: str | None = None
        self._proto = None  # the ModelProto it was loaded from (field presence on save)

    @property
    def opset(self) -> int:
        """Version of the default ONNX domain."""
        return self.opset_imports.get("", self.opset_imports.get("ai.onnx", 0))

    def to_proto(self):
        """An onnx.ModelProto of this model (external data stays referenced, not inlined)."""
        from graphkit.io.to_proto import model_to_proto

        return model_to_proto(self)

    @classmethod
    def from_proto(cls, proto, base_dir: str | None = None) -> Model:
        from graphkit.io.from_proto import model_from_proto

        return model_from_proto(proto, base_dir=base_dir)

    def __repr__(self) -> str:
        opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in self.opset_imports.items())
        return f"Model(ir_version={self.ir_version}, opsets=[{opsets}], graph={self.graph!r})"
