"""Analysis: open-ended generation over a video (``/analyze``, ``/generate``), summaries, chapters,
highlights (``/summarize``) and gists (``/gist``), all from the video's timeline (``timeline.py``).

Flow of one request, module by module:

1. ``params.py``: check the parameters (the real API's error codes and messages, never a 500) into the
   typed request the services take (``AnalyzeInput``; the router builds it from the wire body);
2. ``videos.py``: resolve the video (``video_id``, or ``video`` = ``asset_id`` | ``url`` | ``base64_string``,
   indexed into the tenant's hidden ``framedex-analysis`` index and waited for);
3. ``generation.py``: load its timeline, cut it to ``start_time``/``end_time``, fit it into the prompt budget
   (map-reduced into cached notes when too long) and generate, whole or streamed (the API writes the NDJSON);
4. ``structured.py``: ``response_format`` JSON schemas, enforced while decoding, validated and repaired;
5. ``summaries.py``: the fixed requests (summary, chapters, highlights, gist) built on the above, answered
   as domain objects (``outputs.py``: ``Summary``, ``Gist``) that the API layer shapes into its bodies.

Around them: ``prepared.py`` (the default outputs computed at index time and answered at once) and
``tasks.py`` (``/analyze/tasks`` and ``/analyze/batches`` on the job queue). This module only re-exports the
names other layers use; the submodules import each other, never this package.
"""

from __future__ import annotations

from framedex.services.analysis.generation import (
    SYSTEM_PROMPT,
    Analysis,
    Context,
    Result,
    analyze,
    as_tenant,
    build_context,
    generate,
    prepare,
)
from framedex.services.analysis.outputs import Chapter, Gist, Highlight, Summary, Usage
from framedex.services.analysis.params import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_TEMPERATURE,
    GENERATION_FAILED,
    MAX_OUTPUT_TOKENS,
    MAX_PROMPT_TOKENS,
    AnalysisFailed,
    AnalyzeInput,
    GenerationOptions,
    GistInput,
    SummarizeInput,
    check_max_tokens,
    check_model_name,
    check_prompt,
    check_response_format,
    check_temperature,
    check_window,
)
from framedex.services.analysis.structured import generate_json, minimal_instance, parse_json_reply, schema_errors
from framedex.services.analysis.summaries import (
    SUMMARY_PROMPT,
    chapter_boundaries,
    gist,
    make_chapters,
    make_highlights,
    summarize,
)
from framedex.services.analysis.summaries import _embedder as _embedder  # eval/summaries.py
from framedex.services.analysis.videos import (
    ANALYSIS_INDEX_NAME,
    VideoNotReady,
    VideoRef,
    get_ready_video,
    resolve_video,
    submit_video,
    wait_ready,
)

__all__ = [
    "ANALYSIS_INDEX_NAME",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "DEFAULT_TEMPERATURE",
    "GENERATION_FAILED",
    "MAX_OUTPUT_TOKENS",
    "MAX_PROMPT_TOKENS",
    "SUMMARY_PROMPT",
    "SYSTEM_PROMPT",
    "Analysis",
    "AnalysisFailed",
    "AnalyzeInput",
    "Chapter",
    "Context",
    "GenerationOptions",
    "Gist",
    "GistInput",
    "Highlight",
    "Result",
    "SummarizeInput",
    "Summary",
    "Usage",
    "VideoNotReady",
    "VideoRef",
    "analyze",
    "as_tenant",
    "build_context",
    "chapter_boundaries",
    "check_max_tokens",
    "check_model_name",
    "check_prompt",
    "check_response_format",
    "check_temperature",
    "check_window",
    "generate",
    "generate_json",
    "get_ready_video",
    "gist",
    "make_chapters",
    "make_highlights",
    "minimal_instance",
    "parse_json_reply",
    "prepare",
    "resolve_video",
    "schema_errors",
    "submit_video",
    "summarize",
    "wait_ready",
]
