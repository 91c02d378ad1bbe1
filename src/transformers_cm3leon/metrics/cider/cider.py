# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""CIDEr-D as the COCO caption evaluation (pycocoevalcap) computes it, with a pure-Python PTB tokenizer (no Java).

This file is a self-contained `evaluate` module: `evaluate.load("<path>/metrics/cider")` copies it alone.
"""

import math
import re
from collections import Counter

import datasets
import evaluate

logger = evaluate.logging.get_logger(__name__)

_CITATION = """\
@inproceedings{vedantam2015cider,
  title={CIDEr: Consensus-based Image Description Evaluation},
  author={Vedantam, Ramakrishna and Zitnick, C. Lawrence and Parikh, Devi},
  booktitle={CVPR},
  year={2015}
}
@article{chen2015microsoft,
  title={Microsoft COCO Captions: Data Collection and Evaluation Server},
  author={Chen, Xinlei and Fang, Hao and Lin, Tsung-Yi and Vedantam, Ramakrishna and Gupta, Saurabh and Dollar, Piotr and Zitnick, C. Lawrence},
  journal={arXiv preprint arXiv:1504.00325},
  year={2015}
}
"""

_DESCRIPTION = """\
CIDEr-D, the captioning score of the COCO caption evaluation server, computed exactly as `pycocoevalcap`'s `Cider`
scorer does (the class `COCOEvalCap` calls; despite its name it implements the CIDEr-D variant):

- TF-IDF vectors of 1- to 4-grams; the document frequency of an n-gram is the number of *evaluated* images whose
  references contain it, and log(number of images) is the reference length. Scores on a subset are therefore not
  comparable with scores on a full split, and a single image always scores 0 (every n-gram has idf 0).
- Clipped similarity: sum over n-grams of min(candidate weight, reference weight) x reference weight, divided by
  both norms, for each reference, averaged over the references.
- Gaussian length penalty exp(-delta^2 / (2 sigma^2)), sigma = 6. As in pycocoevalcap, delta is the difference
  of the numbers of *bigrams*, which equals the difference of lengths in words for non-empty sentences.
- Mean over n = 1..4, times 10. Papers report the result times 100 (0.616 is reported as 61.6).

Sentences are first tokenized like COCOEvalCap's Java PTBTokenizer (Stanford CoreNLP 3.4.1, -lowerCase) followed by
pycocoevalcap's punctuation filter. The pure-Python tokenizer here reproduces that pipeline token for token on all
31,000 MS-COCO captions it was checked on; it approximates it for rare constructs (emoticons, URLs, SGML tags, a
single-letter abbreviation that ends a caption). Pass `tokenize=False` for sentences already tokenized with spaces.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): one generated caption per image.
    references (`list[list[str]]`): the reference captions of each image (at least one each).
    n (`int`, defaults to 4): the largest n-gram order (pycocoevalcap's scorer only works with 4).
    sigma (`float`, defaults to 6.0): standard deviation of the Gaussian length penalty.
    tokenize (`bool`, defaults to `True`): apply the PTB tokenization and punctuation filter first.
    return_per_example (`bool`, defaults to `False`): also return the score of every image.
Returns:
    `cider` (`float`): the corpus CIDEr-D (mean over images), on pycocoevalcap's scale.
    `cider_per_example` (`list[float]`): with `return_per_example=True`.
Examples:
    >>> cider = evaluate.load("metrics/cider")
    >>> cider.compute(
    ...     predictions=["a cat on a mat.", "a dog in the park"],
    ...     references=[["A cat sits on a mat.", "a cat on a rug"], ["A dog runs in a park."]],
    ... )["cider"]
"""


# ---------------------------------------------------------------------------------------------------------------
# PTB tokenization, as Stanford CoreNLP 3.4.1's PTBTokenizer with -lowerCase -preserveLines, followed by
# pycocoevalcap's filter. The lexer below picks, at each position, the longest match among its rules (ties go to
# the earlier rule), as the JFlex lexer of CoreNLP does.
# ---------------------------------------------------------------------------------------------------------------

# pycocoevalcap drops these tokens after tokenization. The list holds "-LRB-" etc. in upper case, but the Java
# tokenizer lower-cases them, so brackets survive as "-lrb-", "-rrb-", "-lsb-", "-rsb-", "-lcb-", "-rcb-".
_DROPPED_TOKENS = frozenset(["''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";"])

_UNICODE_PUNCTUATION = str.maketrans({"\u2019": "'", "\u2018": "`", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_UNICODE_SEQUENCES = (("\u2026", "..."), ("\u2013", "--"), ("\u2014", "--"))

# Abbreviations whose period stays attached, whatever follows (CoreNLP's lists of months, days, states, titles,
# companies and street words, checked against the jar one by one). Matched case-insensitively.
_ABBREVIATIONS = (
    "adm al ala alex apr ariz assn atty attys aug ave bancorp bhd bldg blvd brig bros calif capt cf cie cmdr co col "
    "colo comdr conn corp cos cpl ct dak dec dept det dr drs esq est etc ext feb fla fri ft ga gen gov govs hon inc "
    "ind intl jan jos jr jul jun kan kans ky lieut lt ltd maj mar md messrs mich minn mlle mme mo mon mont mr mrs ms "
    "mt neb nev nov oct okla penn pfc ph plc pres prof profs pte pty ptys pvt rd rep reps rev sen sens sep sept seq "
    "sgt spc sq sr st ste supt supts sys tel tenn thu thurs treas tue tues univ va vs vt wed wis wisc wm wyo"
).split()
# State abbreviations that are also English words keep their period only when capitalised ("Pa." but not "pa.").
_CAPITALISED_ABBREVIATIONS = "Ark Az Del Ill La Mass Miss Ore Pa Tex Wash".split()
# These keep their period only before a number ("No. 5", "Fig. 3").
_NUMBER_ABBREVIATIONS = "art ca fig figs no nos op pp prop".split()
# A single letter keeps its period ("S. Pellegrino") unless one of these sentence starters follows. The Java lexer
# looks past the end of a caption into the next one, which starts with one of them 70% of the time in COCO: at the
# end of a caption the period is split off.
_SENTENCE_STARTERS = (
    "A An The There Some This Many One These We In It That Here Their So He They At As Her She You Our What When If "
    "But Yet While Since After About More Such Then Now Once However Other"
).split()


def _alternation(words):
    return "|".join(sorted(words, key=len, reverse=True))


_LETTER = r"[^\W\d_]"
_ALNUM = r"[^\W_]"
_SPLIT_WORDS = {
    "cannot": "can not",
    "gimme": "gim me",
    "gonna": "gon na",
    "gotta": "got ta",
    "lemme": "lem me",
    "wanna": "wan na",
}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}


def _emit_match(match):
    return [match.group(0)]


def _emit_groups(match):
    return [group for group in match.groups() if group]


def _emit_nothing(match):
    return []


def _emit_split_word(match):
    return _SPLIT_WORDS[match.group(0).lower()].split()


def _emit_bracket(match):
    return [_BRACKETS[match.group(0)]]


def _emit_exclamations(match):
    # A lone "?" or "!" is filtered by pycocoevalcap; runs such as "?!" are tokens it keeps.
    return [match.group(0)] if len(match.group(0)) > 1 else []


_PTB_RULES = [
    (rf"(?i:{_alternation(_SPLIT_WORDS)})(?!{_ALNUM})", _emit_split_word),
    # "don't" -> "do n't", "can't" -> "ca n't"
    (r"([A-Za-z]*[A-Za-mo-z])([nN]'[tT])(?![A-Za-z])", _emit_groups),
    # "dog's" -> "dog 's", "we're" -> "we 're"; wins ties with the inner-apostrophe words below ("SHE'S")
    (r"([A-Za-z]*)('(?:[sSmMdD]|re|RE|ve|VE|ll|LL))(?![A-Za-z])", _emit_groups),
    # words with an inner apostrophe that stay whole: o'clock, O'Neil, l'amour, d'Artagnan, ma'am
    (r"[A-HJ-XZno]'[A-Za-z]{2,}|[lLdD]'[A-Za-z]+|[A-Za-z]+[aeiouyAEIOUY]'[aeiouA-Z][A-Za-z]*", _emit_match),
    (r"'n'|'em(?![A-Za-z])|'[2-9]0s|[cC]'mon|[yYjJ]'", _emit_match),
    (r"(?:[A-Za-z]\.){2,}|(?i:(?:ed|ph)\.d\.)", _emit_match),  # acronyms: u.s., t.v., e.g., ph.d.
    (rf"(?i:{_alternation(_ABBREVIATIONS)})\.", _emit_match),
    (rf"(?:{_alternation(_CAPITALISED_ABBREVIATIONS)})\.", _emit_match),
    (rf"(?i:{_alternation(_NUMBER_ABBREVIATIONS)})\.(?=\s*\d)", _emit_match),
    (rf"[zZ]\.|[A-Za-z]\.(?!\s*$|\s+(?:{_alternation(_SENTENCE_STARTERS)})(?:\s|$))", _emit_match),
    (r"\d+(?:[.,:/]\d+)*|\.\d+", _emit_match),
    (r"[A-Z]+&[A-Z]+", _emit_match),  # AT&T
    # words, with inner hyphens, underscores, slashes, at-signs and letter.letter periods ("black-and-white")
    (rf"(?:[#@](?={_LETTER}))?{_ALNUM}+(?:(?:[-_/@]|(?<={_LETTER})\.(?={_LETTER})){_ALNUM}+)*", _emit_match),
    (r"[()\[\]{}]", _emit_bracket),
    (r"[?!]+", _emit_exclamations),
    (r"\.+|-+|''|``|[\"'`,;:]", _emit_nothing),
    (r"\*+|\S", _emit_match),
]
_PTB_RULES = [(re.compile(pattern), emit) for pattern, emit in _PTB_RULES]


def ptb_tokenize(text: str) -> list[str]:
    """Tokenize one caption like pycocoevalcap's PTBTokenizer followed by its punctuation filter.

    Example: `ptb_tokenize("A man's hat (red).")` returns `["a", "man", "'s", "hat", "-lrb-", "red", "-rrb-"]`.
    """
    for old, new in _UNICODE_SEQUENCES:
        text = text.replace(old, new)
    text = text.translate(_UNICODE_PUNCTUATION)
    tokens = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        best_match, best_emit = None, None
        for pattern, emit in _PTB_RULES:
            match = pattern.match(text, position)
            if match is not None and match.end() > position and (best_match is None or match.end() > best_match.end()):
                best_match, best_emit = match, emit
        tokens.extend(token.lower() for token in best_emit(best_match))
        position = best_match.end()
    return [token for token in tokens if token not in _DROPPED_TOKENS]


# ---------------------------------------------------------------------------------------------------------------
# CIDEr-D
# ---------------------------------------------------------------------------------------------------------------


def _ngram_counts(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


def cider_d(candidates: list[list[str]], references: list[list[list[str]]], n: int = 4, sigma: float = 6.0):
    """CIDEr-D of tokenized candidates (one per image) against tokenized references (a list per image).

    Returns the per-image scores; their mean is the corpus score. Follows pycocoevalcap's `CiderScorer` step by
    step, including its idf smoothing (an n-gram absent from every reference gets document frequency 1).
    """
    candidate_counts = [_ngram_counts(words, n) for words in candidates]
    reference_counts = [[_ngram_counts(words, n) for words in refs] for refs in references]

    document_frequency = Counter()
    for counts_of_image in reference_counts:
        document_frequency.update(set().union(*counts_of_image))
    log_num_images = math.log(len(candidates))

    def to_vector(counts):
        # tf-idf weights per order, their norms, and the number of bigrams (pycocoevalcap's "length").
        vector = [{} for _ in range(n)]
        squared_norm = [0.0] * n
        for ngram, term_frequency in counts.items():
            weight = term_frequency * (log_num_images - math.log(max(1.0, document_frequency[ngram])))
            vector[len(ngram) - 1][ngram] = weight
            squared_norm[len(ngram) - 1] += weight**2
        num_bigrams = sum(count for ngram, count in counts.items() if len(ngram) == 2)
        return vector, [math.sqrt(value) for value in squared_norm], num_bigrams

    scores = []
    for counts, counts_of_refs in zip(candidate_counts, reference_counts):
        vector, norm, length = to_vector(counts)
        score_per_order = [0.0] * n
        for ref_counts in counts_of_refs:
            ref_vector, ref_norm, ref_length = to_vector(ref_counts)
            penalty = math.exp(-((length - ref_length) ** 2) / (2 * sigma**2))
            for order in range(n):
                similarity = sum(
                    min(weight, ref_vector[order].get(ngram, 0.0)) * ref_vector[order].get(ngram, 0.0)
                    for ngram, weight in vector[order].items()
                )
                if norm[order] != 0 and ref_norm[order] != 0:
                    similarity /= norm[order] * ref_norm[order]
                score_per_order[order] += similarity * penalty
        scores.append(10.0 * sum(score_per_order) / n / len(counts_of_refs))
    return scores


class CIDEr(evaluate.Metric):
    """CIDEr-D of generated captions, as computed by the COCO caption evaluation. See `_DESCRIPTION`."""

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
            codebase_urls=["https://github.com/salaniz/pycocoevalcap"],
            reference_urls=["https://arxiv.org/abs/1411.5726", "https://arxiv.org/abs/1504.00325"],
        )

    def _compute(self, predictions, references, n=4, sigma=6.0, tokenize=True, return_per_example=False):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"`n` must be a positive integer, got {n!r}.")
        if not isinstance(sigma, (int, float)) or sigma <= 0:
            raise ValueError(f"`sigma` must be a positive number, got {sigma!r}.")
        if len(predictions) == 0:
            raise ValueError("`predictions` is empty: CIDEr needs at least one image.")
        for index, refs in enumerate(references):
            if len(refs) == 0:
                raise ValueError(f"`references[{index}]` is empty: every image needs at least one reference.")
        if len(predictions) == 1:
            logger.warning("CIDEr of a single image is always 0: its idf is computed from the evaluated images.")

        split = ptb_tokenize if tokenize else str.split
        candidates = [split(prediction) for prediction in predictions]
        tokenized_references = [[split(ref) for ref in refs] for refs in references]
        scores = cider_d(candidates, tokenized_references, n=n, sigma=float(sigma))
        result = {"cider": sum(scores) / len(scores)}
        if return_per_example:
            result["cider_per_example"] = scores
        return result
