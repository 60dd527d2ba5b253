"""graphkit's typed in-memory IR: Model > Graph > Node, with Values linking producers to uses.

One job per module: tensor.py (lazy constant data), value.py, attributes.py, node.py,
graph.py (linked node list, lookup), model.py. Conversion to and from protos is in graphkit.io.
"""
from graphkit.ir.attributes import Attr, Attributes, AttributeType
from graphkit.ir.graph import Graph
from graphkit.ir.model import Model
from graphkit.ir.node import Node
from graphkit.ir.tensor import Tensor
from graphkit.ir.value import Value

__all__ = ["Attr", "AttributeType", "Attributes", "Graph", "Model", "Node", "Tensor", "Value"]
