"""lamdis on AWS Bedrock: the LLM judge (scoring, user simulation, extraction) over the
Converse API, and the ``bedrock_chat`` target. Found by lamdis through the ``lamdis.judges``
/ ``lamdis.targets`` entry points; shared logic is in :mod:`lamdis_core.llm`.
"""

from lamdis_judge_bedrock._chat import BedrockChatModel, converse_messages
from lamdis_judge_bedrock._judge import BedrockJudge, create_judge
from lamdis_judge_bedrock._settings import DEFAULT_MODEL_ID, BedrockSettings
from lamdis_judge_bedrock._target import (
    BedrockChatTarget,
    BedrockChatTargetFactory,
    create_target_factory,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL_ID",
    "BedrockChatModel",
    "BedrockChatTarget",
    "BedrockChatTargetFactory",
    "BedrockJudge",
    "BedrockSettings",
    "converse_messages",
    "create_judge",
    "create_target_factory",
]
