"""Weight formats: llama.cpp's block quantisation and GGUF files, for the MoE models ``load()`` returns.

Sits above ``runtime`` (it finds experts modules and selects the "qnext" experts on load) and below ``trace``
(it knows nothing about routing). One concept per module:

    quantization quantize(model, "Q4_0", parts=...) -> a copy through the gguf package's own quantisers
    convert     the tensor conversions of llama.cpp's converter (qwen3next, qwen3moe), both directions
    export      export_gguf(model, tokenizer, path, qtype=...) with gguf.GGUFWriter
    loading     load(): the public loader (safetensors through runtime.loading, GGUF through gguf_load)
    gguf_load   load_gguf(path) (behind qnext_lab.load(path, gguf_file=...)): transformers' GGUF loader for
                qwen2moe/qwen3moe, the inverse conversion for qwen3next
    gguf_checks a stranger's GGUF file checked against its size, sane metadata and finite weights (GGUFLimits)
    atomic      writing(target): a file written whole or not at all, never through a user's file or symlink

    from qnext_lab.formats import quantize, export_gguf
    q4 = quantize(model, "Q4_0"); export_gguf(model, tok, "tiny-Q4_0.gguf", qtype="Q4_0")
"""

from __future__ import annotations

from .._lazy import lazy_exports

# public name -> module of this package (imported on first access; see qnext_lab/_lazy.py)
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FORMATS": "quantization",
        "GGUFLimits": "gguf_checks",
        "GGUF_PARTS": "quantization",
        "PARTS": "quantization",
        "QuantizationInfo": "quantization",
        "export_gguf": "export",
        "load": "loading",
        "load_gguf": "gguf_load",
        "quantize": "quantization",
    },
)
