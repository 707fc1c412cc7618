"""The training-memory estimate against measured allocations for three stacks.

On CPU, torch has no peak counter, so a step is measured by what it holds: the bytes of every tensor
autograd saves for the backward pass (through saved_tensors_hooks, each storage once, parameters left
out), plus the parameters, gradients and optimizer state after a real step. On CUDA the same step is
measured by torch.cuda's peak allocation. The estimate never undercounts and stays within 1.6 times
the measurement (it counts every layer's output, while autograd skips some, e.g. a convolution's output
that only feeds a ReLU).
"""
from __future__ import annotations

import pytest
import torch

from core.config import parse_config
from core.model.build import build_for, check_for
from core.prepare.memory_estimate import MemoryEstimate, available_memory, estimate_memory, optimizer_state_per_value
from core.prepare.preflight import input_shape
from core.recipe.optimizers import OPTIMIZERS

TOLERANCE = (1.0, 1.6)  # estimate / measured
BATCH = 64
STACKS = {
    "demo-cnn": "[{conv2d: {out_channels: 16, kernel_size: 3, padding: same}}, batchnorm2d, relu, "
                "{maxpool2d: {kernel_size: 2}}, {conv2d: {out_channels: 32, kernel_size: 3, padding: same}}, batchnorm2d, "
                "relu, {maxpool2d: {kernel_size: 2}}, flatten, {dropout: {p: 0.2}}, {linear: {out_features: 64}}, relu, "
                "{linear: {out_features: auto}}]",
    "mlp": "[flatten, {linear: {out_features: 512}}, relu, {linear: {out_features: 256}}, relu, {linear: {out_features: auto}}]",
    "deep-cnn": "[{conv2d: {out_channels: 32, kernel_size: 3, padding: same}}, relu, "
                "{conv2d: {out_channels: 32, kernel_size: 3, padding: same}}, relu, {maxpool2d: {kernel_size: 2}}, "
                "{conv2d: {out_channels: 64, kernel_size: 3, padding: same}}, batchnorm2d, relu, "
                "{adaptiveavgpool2d: {output_size: 1}}, flatten, {linear: {out_features: auto}}]",
}


def config_for(layers: str, optimizer: str = "adam", precision: str = "fp32"):
    return parse_config(f"name: m\ndata: {{source: shapes, image_size: [32, 32], batch_size: {BATCH}}}\n"
                        f"model: {{layers: {layers}}}\ntrain: {{optimizer: {{name: {optimizer}}}, precision: {precision}}}\n", [])


def measured_step(config, device: torch.device) -> int:
    """Bytes one real training step holds at its peak (see the module's docstring)."""
    model = build_for(config.model, input_shape(config), 5)[0].to(device).train()
    optimizer = OPTIMIZERS[config.train.optimizer.name].build(model, config.train.optimizer)
    images, labels = torch.randn(BATCH, *input_shape(config), device=device), torch.zeros(BATCH, dtype=torch.long, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device) - sum(p.numel() * 4 for p in model.parameters())
        for _ in range(2):  # the second step holds the optimizer state from the first
            optimizer.zero_grad(set_to_none=False)
            torch.nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
        return torch.cuda.max_memory_allocated(device) - start
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    held = [*model.parameters(), *(p.grad for p in model.parameters()),
            *(value for state in optimizer.state.values() for value in state.values()
              if isinstance(value, torch.Tensor) and value.ndim > 0)]
    return sum(size for pointer, size in saved.items() if pointer not in parameters) + \
        sum(t.numel() * t.element_size() for t in held)


@pytest.mark.parametrize("name", list(STACKS))
def test_the_estimate_is_within_tolerance_of_the_measured_step(name: str) -> None:
    config = config_for(STACKS[name])
    estimate = estimate_memory(config, check_for(config.model, input_shape(config), 5))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ratio = estimate.total / measured_step(config, device)
    assert TOLERANCE[0] <= ratio <= TOLERANCE[1], f"{name} on {device}: estimate / measured = {ratio:.2f}"


def test_the_totals_follow_the_optimizer_and_precision() -> None:
    adam = config_for(STACKS["mlp"])
    report = check_for(adam.model, input_shape(adam), 5)
    full = estimate_memory(adam, report)
    parameters = report.total_parameters * 4
    assert (full.parameters, full.gradients, full.optimizer_state) == (parameters, parameters, 2 * parameters)
    assert full.layers[0] == ("input", BATCH * 3 * 32 * 32 * 4) and dict(full.layers)["0 flatten"] == 0
    sgd = estimate_memory(config_for(STACKS["mlp"], optimizer="sgd"), report)
    assert sgd.optimizer_state == 0 and optimizer_state_per_value(config_for(STACKS["mlp"], optimizer="adamw")) == 2
    assert optimizer_state_per_value(config_for(STACKS["mlp"], optimizer="muon")) == 1  # its momentum, held inside
    half = estimate_memory(config_for(STACKS["mlp"], precision="bf16"), report)
    assert half.activations * 2 == full.activations and half.parameters == full.parameters
    assert estimate_memory(adam, report, batch_size=2 * BATCH).activations == 2 * full.activations


def test_largest_batch_fills_the_room_left_by_the_fixed_part() -> None:
    estimate = MemoryEstimate(batch_size=4, precision="fp32", parameters=100, gradients=100, optimizer_state=200,
                              layers=[("input", 40), ("conv2d", 40)])  # 20 bytes a sample
    assert estimate.total == 480
    assert estimate.largest_batch(400 + 20 * 7 + 19) == 7
    assert estimate.largest_batch(399) == 0
    assert available_memory(torch.device("cpu")) > 0
