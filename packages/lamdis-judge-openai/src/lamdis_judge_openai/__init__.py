"""lamdis on OpenAI: the LLM judge (scoring, user simulation, extraction) and the
``openai_chat`` target. Found by lamdis through the ``lamdis.judges`` / ``lamdis.targets``
entry points; the shared prompt, parsing, caching and retry logic is in :mod:`lamdis_core.llm`.
"""

from lamdis_judge_openai._chat import OpenAIChatModel
from lamdis_judge_openai._judge import OpenAIJudge, create_judge
from lamdis_judge_openai._settings import DEFAULT_MODEL, OpenAISettings
from lamdis_judge_openai._target import (
    OpenAIChatTarget,
    OpenAIChatTargetFactory,
    create_target_factory,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "OpenAIChatModel",
    "OpenAIChatTarget",
    "OpenAIChatTargetFactory",
    "OpenAIJudge",
    "OpenAISettings",
    "create_judge",
    "create_target_factory",
]
