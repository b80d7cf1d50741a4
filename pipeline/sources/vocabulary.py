"""The Hub's identifiers in a reader's words: tasks, languages and licences.

The Hub speaks in ids (``automatic-speech-recognition``, ``arz``, ``cc-by-nc-4.0``); an email
should say "Speech recognition", "Egyptian Arabic", "CC BY-NC 4.0". Unknown ids get a
readable fallback (tasks, licences) or are left out (languages: a bare code means nothing to a
reader, and a wrong guess is worse than silence).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

# pipeline_tag -> words, sentence case. From the Hub's task list (huggingface.js tasks).
TASKS: dict[str, str] = {
    "text-generation": "Text generation",
    "text2text-generation": "Text-to-text generation",
    "fill-mask": "Masked-word prediction",
    "feature-extraction": "Text embeddings",
    "sentence-similarity": "Sentence similarity",
    "text-classification": "Text classification",
    "token-classification": "Named-entity and token tagging",
    "question-answering": "Question answering",
    "table-question-answering": "Question answering over tables",
    "zero-shot-classification": "Zero-shot text classification",
    "summarization": "Summarisation",
    "translation": "Translation",
    "text-ranking": "Search result ranking",
    "automatic-speech-recognition": "Speech recognition",
    "text-to-speech": "Speech synthesis",
    "text-to-audio": "Audio generation from text",
    "audio-to-audio": "Audio enhancement and conversion",
    "audio-classification": "Audio classification",
    "audio-text-to-text": "Audio understanding",
    "voice-activity-detection": "Voice activity detection",
    "image-classification": "Image classification",
    "zero-shot-image-classification": "Zero-shot image classification",
    "object-detection": "Object detection",
    "zero-shot-object-detection": "Zero-shot object detection",
    "image-segmentation": "Image segmentation",
    "mask-generation": "Image mask generation",
    "depth-estimation": "Depth estimation",
    "keypoint-detection": "Keypoint detection",
    "image-feature-extraction": "Image embeddings",
    "image-to-text": "Image captioning",
    "image-text-to-text": "Vision-language chat",
    "visual-question-answering": "Visual question answering",
    "document-question-answering": "Document question answering",
    "visual-document-retrieval": "Document retrieval",
    "video-text-to-text": "Video understanding",
    "text-to-image": "Image generation from text",
    "image-to-image": "Image editing",
    "unconditional-image-generation": "Image generation",
    "text-to-video": "Video generation from text",
    "image-to-video": "Video generation from images",
    "video-classification": "Video classification",
    "text-to-3d": "3D generation from text",
    "image-to-3d": "3D generation from images",
    "any-to-any": "Multimodal generation",
    "reinforcement-learning": "Reinforcement learning",
    "robotics": "Robotics",
    "tabular-classification": "Tabular classification",
    "tabular-regression": "Tabular regression",
    "time-series-forecasting": "Time-series forecasting",
    "graph-ml": "Graph machine learning",
}

# ISO 639-1 and the 639-3 codes the Hub's cards commonly use for varieties.
LANGUAGES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "arz": "Egyptian Arabic",
    "ary": "Moroccan Arabic", "apc": "Levantine Arabic", "acm": "Iraqi Arabic",
    "ajp": "South Levantine Arabic", "aeb": "Tunisian Arabic", "as": "Assamese",
    "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali",
    "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish",
    "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fil": "Filipino",
    "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati", "ha": "Hausa",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "ig": "Igbo", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "jv": "Javanese", "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada",
    "ko": "Korean", "ku": "Kurdish", "ky": "Kyrgyz", "lo": "Lao", "lt": "Lithuanian",
    "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi",
    "ms": "Malay", "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch",
    "no": "Norwegian", "nb": "Norwegian", "or": "Odia", "pa": "Punjabi", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "rw": "Kinyarwanda",
    "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian",
    "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "tg": "Tajik", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian",
    "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "wo": "Wolof", "xh": "Xhosa",
    "yo": "Yoruba", "yue": "Cantonese", "zh": "Chinese", "zu": "Zulu",
}  # fmt: skip

# Right-to-left scripts' languages, for direction hints when a feed declares its language.
RTL_LANGUAGES = frozenset(
    {"ar", "arz", "ary", "apc", "acm", "ajp", "aeb", "fa", "he", "ur", "ps", "sd", "ug", "yi",
     "dv", "ckb", "ku-arab"}
)  # fmt: skip

LICENCES: dict[str, str] = {
    "apache-2.0": "Apache 2.0", "mit": "MIT", "bsd-2-clause": "BSD 2-Clause",
    "bsd-3-clause": "BSD 3-Clause", "gpl-2.0": "GPL 2.0", "gpl-3.0": "GPL 3.0",
    "lgpl-3.0": "LGPL 3.0", "agpl-3.0": "AGPL 3.0", "mpl-2.0": "MPL 2.0", "cc0-1.0": "CC0",
    "cc-by-4.0": "CC BY 4.0", "cc-by-sa-4.0": "CC BY-SA 4.0", "cc-by-nc-4.0": "CC BY-NC 4.0",
    "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0", "cc-by-nc-nd-4.0": "CC BY-NC-ND 4.0",
    "openrail": "OpenRAIL", "openrail++": "OpenRAIL++", "bigscience-openrail-m": "OpenRAIL-M",
    "creativeml-openrail-m": "CreativeML OpenRAIL-M", "llama2": "Llama 2 licence",
    "llama3": "Llama 3 licence", "llama3.1": "Llama 3.1 licence", "llama3.2": "Llama 3.2 licence",
    "llama3.3": "Llama 3.3 licence", "llama4": "Llama 4 licence", "gemma": "Gemma terms",
    "unlicense": "Unlicense", "wtfpl": "WTFPL",
}  # fmt: skip

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def task_words(pipeline_tag: str | None) -> str | None:
    """'automatic-speech-recognition' -> 'Speech recognition'; unknown tags in plain words."""
    if not pipeline_tag:
        return None
    known = TASKS.get(pipeline_tag)
    if known:
        return known
    words = pipeline_tag.replace("-", " ").replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:] if words else None


def is_language_code(value: str) -> bool:
    """'en', 'arz', 'pt-BR', 'zh_Hans' look like language codes; 'mlx', 'gpt' are not known."""
    return bool(_LANGUAGE_CODE.match(value)) and primary_subtag(value) in LANGUAGES


def primary_subtag(code: str) -> str:
    """'pt-BR' -> 'pt'; 'zh_Hans' -> 'zh'."""
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def language_name(code: str) -> str | None:
    """'arz' -> 'Egyptian Arabic', 'pt-BR' -> 'Portuguese'; None when unknown."""
    return LANGUAGES.get(code.strip().lower()) or LANGUAGES.get(primary_subtag(code))


def is_rtl_language(code: str | None) -> bool:
    """'ar', 'ar-EG', 'he', 'ur' -> True."""
    if not code:
        return False
    return code.strip().lower() in RTL_LANGUAGES or primary_subtag(code) in RTL_LANGUAGES


def licence_name(licence: str | None, other_name: str | None = None) -> str | None:
    """'apache-2.0' -> 'Apache 2.0'; 'other' -> the card's own ``license_name`` if given."""
    if not licence:
        return None
    key = licence.strip().lower()
    if key == "other":
        return other_name.strip() if other_name and other_name.strip() else None
    return LICENCES.get(key, licence.strip())


def text_direction(text: str, language: str | None = None) -> Literal["ltr", "rtl"]:
    """'rtl' when most strong letters of ``text`` are right-to-left ones; ``language`` decides
    when the letters do not (none, or a tie).

    The letters come first because feeds often declare their platform's default ("en-us")
    whatever they publish; an Arabic headline opening with "GPT-5" is still mostly Arabic.
    """
    rtl = ltr = 0
    for char in text:
        kind = unicodedata.bidirectional(char)
        rtl += kind in ("R", "AL")
        ltr += kind == "L"
    if rtl != ltr:
        return "rtl" if rtl > ltr else "ltr"
    return "rtl" if is_rtl_language(language) else "ltr"
