"""Token log-probs of responses under a causal LM, without ever holding all logits at once.

At 8k response tokens and a 150k vocabulary, `[batch, length, vocab]` float32 logits are
~5 GB per sequence. So the decoder runs once, and the output head (+ log-softmax) runs over
chunks of positions; under autograd each chunk is checkpointed, so its logits are freed after
the forward and recomputed in the backward: peak memory holds one chunk's logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

from rpt.padding import position_ids


def chunked_token_logprobs(
    hidden: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    targets: torch.Tensor,
    chunk_size: int,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log p(targets[:, t] | hidden[:, t]) for every position, `chunk_size` positions at a time.

    `hidden` is `[batch, length, dim]` (after the final norm), `head` maps it to logits,
    `targets` is `[batch, length]`. Logits are divided by `temperature` so the log-probs are
    those of the distribution the rollout sampled from. With `with_entropy` also returns the
    per-position entropy of that distribution (detached: a metric, not a loss term), computed from
    the same chunk of logits: the output head runs once per chunk either way.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    logprobs, entropies = [], []
    for start in range(0, hidden.shape[1], chunk_size):
        h, t = hidden[:, start : start + chunk_size], targets[:, start : start + chunk_size]
        if torch.is_grad_enabled() and h.requires_grad:
            values, entropy = checkpoint(_chunk_logprobs, h, t, head, temperature, with_entropy, use_reentrant=False)
        else:
            values, entropy = _chunk_logprobs(h, t, head, temperature, with_entropy)
        logprobs.append(values)
        entropies.append(entropy)
    return torch.cat(logprobs, dim=1), torch.cat(entropies, dim=1) if with_entropy else None


def response_logprobs(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    response_ids: torch.Tensor,
    response_mask: torch.Tensor,
    chunk_size: int,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs `[batch, response_len]` of each response token given its prompt and earlier tokens.

    Prompts are left-padded and responses right-padded (the layout generation produces), so
    every response starts at the same column and only response positions reach the output
    head. Position ids count real tokens only, as during generation. The final hidden state is
    taken from the decoder's output by a hook, so no pass keeps every layer's hidden states (a
    no-grad pass frees each layer's as it goes). The model runs through
    its root `forward` (asking for logits of the last position only), which FSDP2 needs: the
    root's parameters, the LM head among them, stay gathered from that forward until the
    backward. Works for Hugging Face causal LMs whose logits are `lm_head(final hidden state)`
    (Llama, Qwen, Mistral, ...).
    """
    input_ids = torch.cat([prompt_ids, response_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    final: list[torch.Tensor] = []
    hook = model.get_decoder().register_forward_hook(lambda module, args, output: final.append(output[0]))
    try:
        model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask), logits_to_keep=1, use_cache=False)
    finally:
        hook.remove()
    start = prompt_ids.shape[1] - 1  # the position whose output predicts the first response token
    hidden = final[0][:, start : start + response_ids.shape[1]]
    return chunked_token_logprobs(
        hidden, model.get_output_embeddings(), response_ids, chunk_size, temperature, with_entropy
    )


def _chunk_logprobs(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    temperature: float,
    with_entropy: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    logp = (head(hidden).float() / temperature).log_softmax(dim=-1)
    values = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if not with_entropy:
        return values, None
    with torch.no_grad():
        return values, -(logp.exp() * logp).sum(dim=-1)

