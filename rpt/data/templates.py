r"""The prompt templates' text: the RPT paper's seven (v0-v6) as printed, and rpt's own wording.

Each template is the whole user message with `{prompt_content}` where the context goes (the
placeholder the paper prints). Source of v0-v6: arXiv 2506.08007v1, Appendix D, Table 10 ("Seven
prompt templates for the next-token reasoning task"); section 3.3 and Appendix D: the RPT runs of
section 4 used v0. The wording, quotes (typographic where printed), backslashes (`\\boxed{}` in
v1/v2 is printed with two) and spacing are the table's. The table does not show whitespace
exactly; our reading, used for every template: where the table starts a new line we put a blank
line ("\n\n"), and the `### Context` heading stands on its own line with a blank line after it
(v4 prints that heading as "### Context \n \n"). v4 is printed abbreviated by the paper itself
("...(some omitted)...") and with its line breaks spelled as the two characters `\n`; it is kept
exactly so. docs/paper.md lists these choices.
"""

from __future__ import annotations

PROMPT_CONTENT = "{prompt_content}"

# Appendix D, Table 10, v0 (used in section 4: "the reinforcement pre-training experiments in Section 4 used the 'v0' prompt template")
V0 = (
    "Complete the given text under ‘### Context’ by predicting the next token, and wrap it in ‘\\boxed{}’. "
    "Please reason step by step to find the most probable next token as the final answer, and enclose it in "
    "\\boxed{} (note: the token may begin with a space, e.g., \\boxed{ para} or \\boxed{ =}; do not use \\text{})."
    "\n\n### Context\n\n{prompt_content}"
)

# Appendix D, Table 10, v1
V1 = (
    "Complete the given text under ### Context by predicting the next token, and wrap it in \\\\boxed{}. "
    "Please reason step by step to find the most probable next token as the final prediction, and enclose it in "
    "\\boxed{} (note: the token may begin with a space, e.g., \\boxed{ para} or \\boxed{ =}; do not use \\text{})."
    "\n\n### Context\n\n```{prompt_content}```."
)

# Appendix D, Table 10, v2
V2 = (
    "You are a helpful assistant, good at predicting the next token for a given context."
    "\n\nNow, please complete the given text under ### Context by predicting the next token, and wrap it in "
    "\\\\boxed{}. Please reason step by step to find the most probable next token, and enclose it in \\boxed{} "
    "(note: the token may begin with a space, e.g., \\boxed{ para} or \\boxed{ +=}; do not use \\text{})."
    "\n\n### Context\n\n```{prompt_content}```."
)

# Appendix D, Table 10, v3 (printed without a period after the closing backticks)
V3 = (
    "Complete the given text under ### Context by predicting the next token, list multiple potential tokens and "
    "select the most probable one as the final answer. Wrap your final answer in \\boxed{} (note: the token may "
    "begin with a space, e.g., \\boxed{ para} or \\boxed{ =}; do not use \\text{})."
    "\n\n### Context\n\n```{prompt_content}```"
)

# Appendix D, Table 10, v4: printed on one line, abbreviated ("...(some omitted)...") and with "\n" spelled out
V4 = (
    "Complete the given text under ### Context by predicting the next token, and wrap it in \\boxed{}. "
    "Please reason step by step to find the most probable next token as the final answer, and enclose it in "
    "\\boxed{}. Some examples: ### Context \\n \\n ```...(some omitted)...Matching calculations with 1990 valid "
    "combinations indicates the minimum value of \\( b \\) that fits all pre-requisites and restrictions for "
    "triangle formation and symmetry generates the efficient outcome: \\n \\n \\[ \\n \\boxed{1991^2} \\n \\] "
    "\\n \\nIn``` The next token is \\boxed{ this} ### Context \\n \\n ```...Thus "
    "$2^{A}=\\left(2^{a}\\right)^{2}\\left(2^{3} \\right)=``` The next token is \\boxed{9} ### Context \\n \\n "
    "```..., numerical exploration shows``` The next token is \\boxed{:\\n} Now, the context is: ### Context "
    "\\n \\n ```{prompt_content}```."
)

# Appendix D, Table 10, v5
V5 = (
    "Complete the given text under ### Context by predicting the next token, and wrap it in \\boxed{}. "
    "Please reason step by step to find the most probable next token as the final answer, and enclose it in "
    "\\boxed{} (note: the token may begin with a space, e.g., \\boxed{ para} or \\boxed{ =}; do not use \\text{})."
    "\n\n### Context\n\n```{prompt_content}```."
)

# Appendix D, Table 10, v6 ("wrapped in ```and ```by" is spaced as printed)
V6 = (
    "Complete the given text wrapped in ```and ```by predicting the next token, list multiple potential tokens "
    "and select the most probable one as the final prediction. Wrap your final prediction in \\boxed{} (note: the "
    "token may begin with a space, e.g., \\boxed{ para} or \\boxed{ =}; do not use \\text{})."
    "\n\nThe context is: ```{prompt_content}```, now please predict the next token."
)

# rpt's own wording (not the paper's): v0's instructions made explicit about candidates and literal braces
RPT_REASONING = (
    "Continue the text under the Context heading below by predicting the token that comes next. "
    "Reason step by step: weigh a few likely candidates, then settle on the most probable one. "
    "Write your final prediction inside \\boxed{}. The token may begin with a space; if it does, keep "
    "that space inside the braces, as in \\boxed{ the}. Write the token as plain text: do not wrap it "
    "in \\text{}, and write a literal brace as \\{ or \\}."
    "\n\n## Context\n\n{prompt_content}"
)

#: Name -> template text; every one asks for the answer in \boxed{}.
BOXED_TEMPLATES: dict[str, str] = {
    "v0": V0, "v1": V1, "v2": V2, "v3": V3, "v4": V4, "v5": V5, "v6": V6, "rpt_reasoning": RPT_REASONING,
}
PAPER_TEMPLATES = ("v0", "v1", "v2", "v3", "v4", "v5", "v6")
