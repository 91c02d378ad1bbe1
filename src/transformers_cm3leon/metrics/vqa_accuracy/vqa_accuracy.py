# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""The VQAv2 accuracy of the official evaluation (GT-Vision-Lab/VQA, vqaEval.py), answer normalisation included.

This file is a self-contained `evaluate` module: `evaluate.load("<path>/metrics/vqa_accuracy")` copies it alone.
"""

import re

import datasets
import evaluate

_CITATION = """\
@inproceedings{goyal2017making,
  title={Making the V in VQA Matter: Elevating the Role of Image Understanding in Visual Question Answering},
  author={Goyal, Yash and Khot, Tejas and Summers-Stay, Douglas and Batra, Dhruv and Parikh, Devi},
  booktitle={CVPR},
  year={2017}
}
"""

_DESCRIPTION = """\
VQA accuracy (VQAv2, VizWiz, OK-VQA): an answer is fully correct when at least 3 humans gave it. For each of the
human answers, the prediction is compared with the *other* answers: accuracy = min(1, matches / 3); the score of
a question is the mean over these leave-one-out subsets. With 10 human answers of which m equal the prediction,
that is 0.3 for m = 1, 0.6 for m = 2, 0.9 for m = 3 and 1.0 for m >= 4.

Answers are compared after the official normalisation (GT-Vision-Lab/VQA vqaEval.py): newlines and tabs become
spaces; punctuation is removed or replaced by a space (kept inside numbers such as "3.5" and "1,000"); lower case;
number words "none", "zero" ... "ten" become digits; articles "a", "an", "the" are dropped; missing apostrophes of
contractions are restored ("dont" -> "don't").

`normalization="always"` (default) normalises the prediction and the human answers of every question.
`normalization="vqaeval"` reproduces vqaEval.py alone, which normalises only when the human answers disagree, so a
prediction "Yes" scores 0 against ten identical answers "yes" (the evaluation server normalises submitted answers
before this step, and released annotations are already in normal form, so both settings agree on real data).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): one predicted answer per question.
    references (`list[list[str]]`): the human answers of each question (10 in VQAv2; at least 2).
    normalization (`str`, defaults to `"always"`): `"always"` or `"vqaeval"`, see the description.
    return_per_example (`bool`, defaults to `False`): also return the accuracy of every question.
Returns:
    `accuracy` (`float`): mean accuracy over the questions, in [0, 1] (the official tool prints it times 100).
    `accuracy_per_example` (`list[float]`): with `return_per_example=True`.
Examples:
    >>> vqa_accuracy = evaluate.load("metrics/vqa_accuracy")
    >>> vqa_accuracy.compute(predictions=["Two"], references=[["2", "2", "2", "two", "3", "3", "3", "3", "3", "3"]])
    {'accuracy': 1.0}
"""

# The tables of vqaEval.py.
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at",
    "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's", "thered": "there'd",
    "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're", "theres": "there's",
    "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
    "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've",
    "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll", "whos": "who's",
    "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've",
    "wouldnt": "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all",
    "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}  # fmt: skip
_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_ARTICLES = frozenset(["a", "an", "the"])
_PUNCTUATION = [
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
# vqaEval.py writes this as "(?!<=\d)(\.)(?!\d)": its look-behind is mistyped as a look-ahead that never fires
# before a ".", so every period not followed by a digit goes.
_PERIOD = re.compile(r"\.(?!\d)")
_COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(,)(\d)")
NORMALIZATIONS = ("always", "vqaeval")


def _strip_punctuation(text: str) -> str:
    # A punctuation mark next to a space, or any mark in a text with a digit-comma-digit, is deleted; otherwise it
    # is replaced by a space ("black/white" -> "black white").
    delete_all = _COMMA_BETWEEN_DIGITS.search(text) is not None
    output = text
    for mark in _PUNCTUATION:
        if delete_all or mark + " " in text or " " + mark in text:
            output = output.replace(mark, "")
        else:
            output = output.replace(mark, " ")
    # vqaEval.py passes re.UNICODE (32) where `sub` expects `count`, so at most 32 periods are removed.
    return _PERIOD.sub("", output, count=32)


def _map_words(text: str) -> str:
    words = [_NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES)


def normalize_answer(answer: str) -> str:
    """The official normalisation of one answer (punctuation, lower case, number words, articles, contractions)."""
    return _map_words(_strip_punctuation(_clean_whitespace(answer)))


def _clean_whitespace(answer: str) -> str:
    return answer.replace("\n", " ").replace("\t", " ").strip()


def vqa_accuracy(prediction: str, answers: list[str], normalization: str = "always") -> float:
    """Accuracy of one predicted answer against the human answers: the mean over leave-one-out subsets of
    min(1, matches / 3)."""
    prediction = _clean_whitespace(prediction)
    answers = [_clean_whitespace(answer) for answer in answers]
    if normalization == "always" or len(set(answers)) > 1:
        prediction = normalize_answer(prediction)
        answers = [normalize_answer(answer) for answer in answers]
    matches = sum(answer == prediction for answer in answers)
    # Leaving out answer i leaves `matches - (answer_i == prediction)` matching answers among the others.
    return sum(min(1.0, (matches - (answer == prediction)) / 3) for answer in answers) / len(answers)


class VQAAccuracy(evaluate.Metric):
    """The official VQAv2 accuracy. See `_DESCRIPTION`."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            codebase_urls=["https://github.com/GT-Vision-Lab/VQA"],
            reference_urls=["https://visualqa.org/evaluation.html"],
        )

    def _compute(self, predictions, references, normalization="always", return_per_example=False):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {list(NORMALIZATIONS)}, got {normalization!r}.")
        if len(predictions) == 0:
            raise ValueError("`predictions` is empty: VQA accuracy needs at least one question.")
        for index, answers in enumerate(references):
            if len(answers) < 2:
                raise ValueError(
                    f"`references[{index}]` has {len(answers)} answer(s); VQA accuracy compares the prediction with "
                    "the other human answers and needs at least 2 (VQAv2 has 10). Use exact match for single answers."
                )
        scores = [vqa_accuracy(p, answers, normalization) for p, answers in zip(predictions, references)]
        result = {"accuracy": sum(scores) / len(scores)}
        if return_per_example:
            result["accuracy_per_example"] = scores
        return result
