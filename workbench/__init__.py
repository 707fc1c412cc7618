"""workbench: a terminal training workbench for PyTorch image classification."""
