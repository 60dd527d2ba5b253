"""The tutorial-CNN demo: nets (the tutorials' bugs and fixes), export (both torch exporters) and
compare (refruntime vs onnxruntime vs torch). These modules import torch; the CLI imports them lazily."""
