"""Hybrid search over the review: dense (Chroma), lexical (BM25) and named-study rankings, fused.

MiniLM matches trial names poorly, so names and abbreviations are carried by the lexical side and
by the study cards: a query naming a study ("DB-04") ranks the passages that cite or name it. The
three rankings are combined by reciprocal rank fusion, which needs no score calibration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt
import Stemmer
from rank_bm25 import BM25Okapi

from assistant.errors import InputRejected
from assistant.index import LoadedIndex, Vectors, model_path
from assistant.ingest import embedded_text, name_key
from assistant.settings import Settings
from assistant.types import Chunk, Frozen, ScoredPassage, Scores, StudyCard
from assistant.vocabulary import Speller, Vocabulary

Mode = Literal["hybrid", "dense", "lexical"]

_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "how", "i", "if", "in", "into", "is", "it", "its", "may", "me", "might", "my", "no", "not", "of", "on", "or", "our", "she", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your", "any", "some", "about", "after", "before", "also", "there's", "what's", "whats", "pt", "patient", "patients", "study", "studies", "trial", "data", "show", "showed", "shown"]
)
# Study names that are ordinary words in the review's own text, so the speller counts them as known.
_ENGLISH_NAMES = frozenset({"maintain", "curb", "ascent", "emerald", "daisy", "begonia"})
_TRIAL_CONTEXT = frozenset({"trial", "trials", "study", "studies", "pfs", "os", "orr", "hr", "endpoint", "arm", "arms", "cohort"})
_STEMMER = Stemmer.Stemmer("english")
# Vocabulary kinds whose terms are spellings of one specific thing (a HER2 or hormone status, a drug's
# generic, brand and code names). Classes and broader concepts ("HER2-directed therapy" for "targeted
# therapy", "HER2 blockade") are left as written: their names would put the same generic words into
# many keys (measured: reading every kind as concepts cost a question on two seen sets).
_KEY_CONCEPTS = frozenset({"finding", "drug"})
# A passage's BM25 score on the key view is the mean of its best this-many keys (measured against the best
# key alone and the best three over every labelled set: two gave the best MRR on nine sets of eleven).
_KEYS_AGREEING = 2
# ... and on the dense key view, the mean cosine of its best this-many keys (best key alone, two, three: three
# kept every set at or above its figure before, with the best MRR over all sets).
_KEYS_CLOSE = 3
# Passages about the review itself (its title, funding, authors, competing interests, data): searched only
# when a question asks about them, never for a clinical one.
_ABOUT_THE_REVIEW = frozenset({"title", "backmatter"})
_TOKEN = re.compile(r"\d+(?:\.\d+)+|[a-z0-9]+(?:[-/][a-z0-9]+)*\+?")


def lexical_tokens(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated words give their parts and the joined form."""
    tokens: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        parts = [p for p in re.split(r"[-/]", token.rstrip("+")) if p]
        if len(parts) > 1:
            tokens.append("".join(parts))
        tokens.extend(_stem(p) for p in parts if p not in _STOPWORDS and (len(p) > 1 or p.isdigit()))
    return tokens


def _stem(word: str) -> str:
    """Snowball's English stemmer (PyStemmer): "funded" and "funding" are one word to BM25."""
    return _STEMMER.stemWord(word)  # type: ignore[no-any-return]


def check_query(query: str, max_chars: int) -> str:
    """The query, stripped; InputRejected for empty, oversized or binary input (never echoed)."""
    if "\x00" in query or sum(1 for c in query if ord(c) < 32 and c not in "\t\n\r") > 2:
        raise InputRejected("The query contains binary data; send plain text.")
    stripped = query.strip()
    if not stripped:
        raise InputRejected("The query is empty; type a question.")
    if len(stripped) > max_chars:
        raise InputRejected(
            f"The query is {len(stripped):,} characters long; the limit is {max_chars:,}. "
            "Ask one question at a time."
        )
    return stripped


class Retrieval(Frozen):
    """A search's passages, best first, and whether the review seems to address the question at all.

    `support` is the cosine similarity between the question and the closest passage key (a question a
    clinician would ask that the passage answers); below `threshold` (Settings.weak_support) the
    search is `weak`: the review may not address the question, and its passages are the nearest it
    has, not an answer. None (and never weak) for a lexical-only search, which embeds nothing.
    """

    passages: tuple[ScoredPassage, ...]
    support: float | None
    threshold: float
    weak: bool


@dataclass
class Retriever:
    """Search over one loaded index; build once per process."""

    index: LoadedIndex
    settings: Settings
    _chunk_tokens: list[list[str]] = field(init=False, repr=False)
    _key_tokens: list[list[str]] = field(init=False, repr=False)
    _vectors: dict[str, list[float]] = field(init=False, repr=False, default_factory=dict)
    _last_key_scores: tuple[str, list[float]] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self._chunk_tokens = [lexical_tokens(embedded_text(c)) for c in self.index.chunks]
        # Keys are written in clinicians' many spellings of one thing ("ERBB2-amplified", "HER2+"; "Kadcyla",
        # "T-DM1"); a spelling only a few keys use would be rare among keys and pull every question that
        # uses it to those few passages. Keys and the query are read as concepts on this view.
        self._key_tokens = [lexical_tokens(self.in_concepts(key.text, _KEY_CONCEPTS)) for key in self.index.keys]

    @property
    def vocabulary(self) -> Vocabulary:
        return self.index.vocabulary

    @cached_property
    def speller(self) -> Speller:
        words: set[str] = set()
        texts = [c.text for c in self.index.chunks]
        texts += [term for group in self.vocabulary.groups for term in group.terms]
        texts += [name for card in self.index.cards for name in (*card.names, *card.drugs)]
        for text in texts:
            words.update(w.lower() for w in re.findall(r"[A-Za-z]+", text))
        english = set()
        vocab = model_path(self.settings) / "vocab.txt"
        if vocab.is_file():
            english = {w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha() and w.islower()}
        return Speller(words, english)

    @cached_property
    def _chunk_position(self) -> dict[str, int]:
        return {c.id: i for i, c in enumerate(self.index.chunks)}

    @cached_property
    def _chunk_studies(self) -> dict[str, frozenset[str]]:
        """Chunk id -> ids of the studies it cites or names, computed once."""
        result = {}
        for chunk in self.index.chunks:
            named = {card.id for card in self.named_studies(chunk.text)}
            cited = {card.id for card in self.index.cards if set(chunk.refs) & set(card.refs)}
            result[chunk.id] = frozenset(named | cited)
        return result

    @cached_property
    def _bm25(self) -> Bm25:
        return Bm25(self._chunk_tokens)

    @cached_property
    def _key_bm25(self) -> Bm25 | None:
        return Bm25(self._key_tokens) if self._key_tokens else None

    @cached_property
    def _study_aliases(self) -> dict[str, StudyCard]:
        return {name_key(name): card for card in self.index.cards for name in card.names}

    @cached_property
    def _study_names(self) -> dict[str, StudyCard]:
        """Joined name -> card; drug names count only where one study alone tested the drug."""
        names: dict[str, StudyCard] = {}
        drug_owners: dict[str, list[StudyCard]] = {}
        for card in self.index.cards:
            for name in card.names:
                names[name_key(name)] = card
            for drug in card.drugs:
                drug_owners.setdefault(name_key(drug), []).append(card)
        for drug, owners in drug_owners.items():
            if len(owners) == 1 and drug not in names:
                names[drug] = owners[0]
        return names

    def named_studies(self, text: str, *, by_drug: bool = True) -> list[StudyCard]:
        """Studies a text names, by any alias (or by a drug only one study tested), in order of first mention."""
        tokens = re.findall(r"[A-Za-z0-9]+", text)
        words = [t.lower() for t in tokens]
        names = self._study_names if by_drug else self._study_aliases
        found: list[StudyCard] = []
        for i in range(len(words)):
            for j in range(min(len(words), i + 5), i, -1):
                card = names.get("".join(words[i:j]))
                if card is not None and (j - i > 1 or not self._ordinary_word(tokens, i)):
                    if card not in found:
                        found.append(card)
                    break
        return found

    def _ordinary_word(self, tokens: list[str], i: int) -> bool:
        """'maintain' in "HSP90 can maintain stability" is a verb, not the MAINTAIN trial: a study name that
        is also an English word counts only with a capital or beside "trial", "study" or a trial result ("emerald PFS")."""
        word = tokens[i]
        if word.lower() not in self.speller.valid - self.speller.known and word.lower() not in _ENGLISH_NAMES:
            return False
        beside = {t.lower() for t in tokens[max(0, i - 2):i + 3]}
        return word.islower() and not beside & _TRIAL_CONTEXT

    def _mentions(self, chunk: Chunk, card: StudyCard) -> bool:
        return card.id in self._chunk_studies[chunk.id]

    def expand(self, query: str) -> tuple[list[str], list[str]]:
        """Lexical tokens of the query, and the added words of the vocabulary groups and studies it names."""
        tokens = lexical_tokens(query)
        extra: list[str] = []
        for match in self.vocabulary.find(query):
            group = self.vocabulary.group(match.group)
            if group.kind not in {"setting", "intent"}:
                for term in group.terms:
                    extra.extend(lexical_tokens(term))
        for card in self.named_studies(query):
            for name in card.names:
                extra.extend(lexical_tokens(name))
        seen = set(tokens)
        added = []
        for token in extra:
            if token not in seen:
                added.append(token)
                seen.add(token)
        return tokens, added

    def term_weights(self, query: str) -> dict[str, float]:
        """The query's words (typos corrected) weighted by their rarity in the review (BM25 idf); words its
        synonyms and study names add count half."""
        corrected = self.speller.correct_text(query)
        own, added = self.expand(corrected)
        idf = self._bm25.idf
        weights = {token: 0.5 * max(0.0, float(idf.get(token, 0.0))) for token in added}
        weights.update({token: max(0.0, float(idf.get(token, 0.0))) for token in own})
        # "antibody-drug conjugate" is rare as words but the review is about ADCs on every page:
        # a term weighs no more than its concept's rarity.
        for match in self.vocabulary.find(corrected):
            ceiling = self.concept_idf.get(match.group)
            if ceiling is not None:
                for token in lexical_tokens(match.term):
                    if token in weights:
                        weights[token] = min(weights[token], ceiling)
        return weights

    @cached_property
    def concept_idf(self) -> dict[str, float]:
        """BM25-style idf of each vocabulary group over the chunks (a chunk has it if it uses any of its terms)."""
        total = len(self.index.chunks)
        counts: dict[str, int] = {}
        for chunk in self.index.chunks:
            for group in {m.group for m in self.vocabulary.find(chunk.text)}:
                counts[group] = counts.get(group, 0) + 1
        return {group: math.log((total - n + 0.5) / (n + 0.5) + 1) for group, n in counts.items()}

    def lexical_scores(self, query: str) -> Sequence[float]:
        """BM25 of the query's own words plus a discounted BM25 of the words expansion added.

        A synonym group adds many words; at full weight they would outvote the question's own.
        """
        return self._bm25_scores(self._bm25, query)

    def _bm25_scores(self, bm25: Bm25, query: str) -> list[float]:
        own, added = self.expand(query)
        scores = bm25.get_scores(own)
        if added:
            scores = scores + self.settings.expansion_weight * bm25.get_scores(added)
        return [float(x) for x in scores]

    def _key_bm25_scores(self, query: str) -> list[float]:
        """BM25 over the keys of the query read as concepts, plus the discounted study names it adds
        (the last query's kept: the back-matter check and the key ranking both read it)."""
        last = self._last_key_scores
        if last is not None and last[0] == query:
            return last[1]
        scores = self._score_keys(query)
        self._last_key_scores = (query, scores)  # one assignment: safe for threads that share the retriever
        return scores

    def _score_keys(self, query: str) -> list[float]:
        assert self._key_bm25 is not None
        own = lexical_tokens(self.in_concepts(query, _KEY_CONCEPTS))
        added = [t for t in self.expand(query)[1] if t not in set(own)]
        scores = self._key_bm25.get_scores(own)
        if added:
            scores = scores + self.settings.expansion_weight * self._key_bm25.get_scores(added)
        return [float(x) for x in scores]

    def normalized_query(self, query: str) -> str:
        """The query in the review's words: "ER+ IHC 1+ ... Enhertu" -> "hormone receptor positive
        HER2-low ... trastuzumab deruxtecan", with the names of the studies it mentions appended.

        MiniLM knows "trastuzumab deruxtecan" but not "Enhertu", "SG" or "palbo".
        """
        names = [card.name for card in self.named_studies(query)]
        text = self.in_concepts(query)
        return f"{text} ({'; '.join(names)})" if names else text

    def in_concepts(self, text: str, kinds: frozenset[str] | None = None) -> str:
        """The text with each vocabulary term replaced by its concept's name ("ERBB2-amplified",
        "HER2+" -> "HER2-positive"), for the groups of the given kinds (default: all); words that ask
        (intents) stay as typed."""
        pieces, cursor = [], 0
        for match in self.vocabulary.find(text):
            group = self.vocabulary.group(match.group)
            keep = group.kind == "intent" or (kinds is not None and group.kind not in kinds)
            pieces.append(text[cursor:match.start])
            pieces.append(text[match.start:match.end] if keep else group.name)
            cursor = match.end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def query_vector(self, query: str) -> list[float]:
        """Mean of the embeddings of the query as typed and in the review's words (the last few kept:
        an explanation embeds its question for passages and again for sentences)."""
        cached = self._vectors.get(query)
        if cached is None:
            cached = self._embed_query(query)
            if len(self._vectors) >= 64:
                self._vectors.pop(next(iter(self._vectors)))
            self._vectors[query] = cached
        return cached

    def _embed_query(self, query: str) -> list[float]:
        model = self.index.embedder
        normalized = self.normalized_query(query)
        if normalized == query:
            return model.embed_query(query)
        typed, other = model.embed_documents([query, normalized])  # one forward pass for both
        return [(a + b) / 2 for a, b in zip(typed, other, strict=True)]

    def sentence_similarities(self, query: str, k: int = 12) -> dict[tuple[str, int, int], float]:
        """(passage id, start, end) of the sentences closest in meaning to the query -> cosine similarity."""
        vectors = self.index.sentence_vectors
        hits = vectors.nearest(
            self.query_vector(self.speller.correct_text(check_query(query, self.settings.max_query_chars))), k)
        return {(vectors.passage_ids[row], int(vectors.metadatas[row]["start"]), int(vectors.metadatas[row]["end"])):
                similarity for row, similarity in hits}

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        section: str | None = None,
        study: str | None = None,
        mode: Mode = "hybrid",
        case_passages: Sequence[str] = (),
    ) -> list[ScoredPassage]:
        """The k best passages (one result per passage, its best chunk), best first (see `retrieve`)."""
        return list(self.retrieve(query, k, section=section, study=study, mode=mode,
                                  case_passages=case_passages).passages)

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        *,
        section: str | None = None,
        study: str | None = None,
        mode: Mode = "hybrid",
        case_passages: Sequence[str] = (),
    ) -> Retrieval:
        """The k best passages (one result per passage, its best chunk), best first, and whether the
        retrieval is weak (no passage key close to the question).

        case_passages: for a question that describes a patient, the passages that the recommendation
        rules fitting that patient rest on, their Perspectives first (see `Assistant.search`). Words
        and meaning alone miss these: a case is told in the patient's terms ("one enlarging liver
        lesion, the rest stable"), the review answers in its own ("oligoprogression").
        """
        query = self.speller.correct_text(check_query(query, self.settings.max_query_chars))
        k = k or self.settings.top_k
        allowed = self._allowed(section, study, query, mode)
        threshold = self.settings.weak_support
        if not allowed:
            return Retrieval(passages=(), support=None, threshold=threshold, weak=False)
        n = self.settings.candidates
        chunks = self.index.chunks

        dense: list[tuple[int, float]] = []  # (chunk position, cosine), best first
        if mode in {"hybrid", "dense"}:
            vectors = self.index.chunk_vectors
            hits = vectors.nearest(self.query_vector(query), min(n, len(allowed)),
                                   lambda row: vectors.ids[row] in allowed)
            dense = [(self._chunk_position[vectors.ids[row]], similarity) for row, similarity in hits]

        lexical: list[tuple[int, float]] = []
        bm25: Sequence[float] = [0.0] * len(chunks)
        if mode in {"hybrid", "lexical"}:
            bm25 = self.lexical_scores(query)
            order = sorted((i for i, c in enumerate(chunks) if c.id in allowed and bm25[i] > 0),
                           key=lambda i: (-bm25[i], i))[:n]
            lexical = [(i, float(bm25[i])) for i in order]

        named: list[tuple[int, float]] = []
        studies = self.named_studies(query)
        if mode == "hybrid" and studies:
            naming = [i for i, c in enumerate(chunks)
                      if c.id in allowed and any(self._mentions(c, card) for card in studies)]
            naming.sort(key=lambda i: (-bm25[i], i))
            named = [(i, float(bm25[i])) for i in naming]

        sentence: list[tuple[int, float]] = []
        if mode == "hybrid" and self.settings.sentence_weight > 0:
            sentence = self._sentence_ranking(query, allowed)

        keyed: list[tuple[int, float]] = []
        keyed_lexical: list[tuple[int, float]] = []
        if mode == "hybrid" and self.index.keys:
            keyed = self._key_ranking(query, allowed)
            keyed_lexical = self._key_lexical_ranking(query, allowed)

        case: list[tuple[int, float]] = []
        if mode == "hybrid" and case_passages:
            first_chunk = self._first_chunks(allowed)
            case = [(first_chunk[p], 0.0) for p in dict.fromkeys(case_passages) if p in first_chunk]

        rrf = self.settings.rrf_k
        weighted = [(self.settings.dense_weight, dense), (self.settings.lexical_weight, lexical),
                    (self.settings.study_boost_weight, named), (self.settings.sentence_weight, sentence),
                    (self.settings.case_weight, case), (self.settings.key_weight, keyed),
                    (self.settings.key_lexical_weight, keyed_lexical)]
        rankings = {
            name: (weight, _passage_ranks(ranked, chunks))
            for name, (weight, ranked) in zip(("dense", "lexical", "study", "sentence", "case", "key", "key_lexical"),
                                              weighted, strict=True)
        }
        # Which chunk of a passage to show: the one the rankings of chunks agree on most (the sentence
        # and case rankings stand for a passage's first chunk, so they do not vote).
        chunk_votes: dict[int, float] = {}
        for weight, ranked in (weighted[0], weighted[1], weighted[2]):  # dense, lexical, study
            for place, (position, _) in enumerate(ranked, start=1):
                chunk_votes[position] = chunk_votes.get(position, 0.0) + weight / (rrf + place)
        fused: dict[str, float] = {}
        for weight, ranks in rankings.values():
            for passage_id, (place, _, _) in ranks.items():
                fused[passage_id] = fused.get(passage_id, 0.0) + weight / (rrf + place)
        if mode == "hybrid" and self.settings.intent_weight > 0:
            self._add_intent_prior(query, fused, chunks, rrf)
        first_position = {c.passage_id: i for i, c in reversed(list(enumerate(chunks)))}
        ordered = sorted(fused, key=lambda p: (-fused[p], first_position[p]))[:k]

        results = []
        for passage_id in ordered:
            chunk = chunks[max((i for i, c in enumerate(chunks) if c.passage_id == passage_id),
                               key=lambda i: (chunk_votes.get(i, 0.0), -i))]
            d = rankings["dense"][1].get(passage_id)
            lx = rankings["lexical"][1].get(passage_id)
            st = rankings["study"][1].get(passage_id)
            cs = rankings["case"][1].get(passage_id)
            se = rankings["sentence"][1].get(passage_id)
            keys = [r[0] for r in (rankings["key"][1].get(passage_id), rankings["key_lexical"][1].get(passage_id)) if r]
            results.append(ScoredPassage(
                chunk_id=chunk.id, passage_id=passage_id, kind=chunk.kind, section=chunk.section,
                section_title=chunk.section_title, text=chunk.text, refs=chunk.refs, spans=chunk.spans,
                score=round(fused[passage_id], 6),
                scores=Scores(
                    fused=round(fused[passage_id], 6),
                    dense=round(d[2], 4) if d else None, lexical=round(lx[2], 4) if lx else None,
                    dense_rank=d[0] if d else None, lexical_rank=lx[0] if lx else None,
                    study_rank=st[0] if st else None, case_rank=cs[0] if cs else None,
                    sentence_rank=se[0] if se else None, key_rank=min(keys) if keys else None,
                ),
            ))
        support = self._support(query, allowed) if mode != "lexical" else None
        return Retrieval(passages=tuple(results), support=support, threshold=threshold,
                         weak=support is not None and support < threshold)

    def support(self, query: str) -> float | None:
        """The cosine similarity of the query to the closest passage key (None without keys)."""
        query = self.speller.correct_text(check_query(query, self.settings.max_query_chars))
        return self._support(query, {c.id for c in self.index.chunks})

    def _support(self, query: str, allowed: set[str]) -> float | None:
        if not self.index.keys:
            return None
        passages = {c.passage_id for c in self.index.chunks if c.id in allowed}
        vectors = self.index.key_vectors
        nearest = vectors.nearest(self.query_vector(query), 1, lambda row: vectors.passage_ids[row] in passages)
        return round(nearest[0][1], 4) if nearest else None

    def _sentence_ranking(self, query: str, allowed: set[str]) -> list[tuple[int, float]]:
        """Passages ranked by their sentence closest in meaning to the query (a passage's first chunk
        stands for it). A long paragraph's chunk embedding blurs its topics together; the one sentence
        that answers ("fast disease progression, high malignancy and poor prognosis") stays sharp."""
        return self._store_ranking(self.index.sentence_vectors, self.settings.sentence_candidates, query, allowed)

    def _store_ranking(self, vectors: Vectors, k: int, query: str, allowed: set[str]) -> list[tuple[int, float]]:
        """Passages (their first chunks) in the order of their records among passage parts
        (sentences, keys) closest in meaning to the query; a passage may recur, its first place counts."""
        first_chunk = self._first_chunks(allowed)
        owners = vectors.passage_ids
        hits = vectors.nearest(self.query_vector(query), k, lambda row: owners[row] in first_chunk)
        return [(first_chunk[owners[row]], similarity) for row, similarity in hits]

    def _key_ranking(self, query: str, allowed: set[str]) -> list[tuple[int, float]]:
        """Passages ranked by the mean cosine of their _KEYS_CLOSE keys closest in meaning to the query (its
        first chunk stands for it): a passage several of whose questions resemble the query outranks one
        with a single look-alike key."""
        first_chunk = self._first_chunks(allowed)
        vectors = self.index.key_vectors
        query_vector = np.asarray(self.query_vector(query), dtype=np.float32)
        norm = float(np.linalg.norm(query_vector))
        similarities = vectors.matrix @ (query_vector / norm if norm > 0 else query_vector)
        scores: dict[str, float] = {}
        for passage_id, rows in self._key_rows.items():
            if passage_id in first_chunk:
                values = similarities[rows]
                best = np.partition(values, len(values) - _KEYS_CLOSE)[-_KEYS_CLOSE:] if len(values) > _KEYS_CLOSE else values
                scores[passage_id] = float(best.mean())
        ordered = sorted(scores, key=lambda p: (-scores[p], first_chunk[p]))
        return [(first_chunk[p], scores[p]) for p in ordered]

    @cached_property
    def _key_rows(self) -> dict[str, npt.NDArray[np.intp]]:
        """Passage id -> the rows of its keys in the key vectors."""
        rows: dict[str, list[int]] = {}
        for row, passage_id in enumerate(self.index.key_vectors.passage_ids):
            rows.setdefault(passage_id, []).append(row)
        return {passage_id: np.asarray(found, dtype=np.intp) for passage_id, found in rows.items()}

    def _key_lexical_ranking(self, query: str, allowed: set[str]) -> list[tuple[int, float]]:
        """Passages ranked by BM25 of the query against their best keys (own words and, discounted, added
        ones): the mean of a passage's _KEYS_AGREEING best key scores, so that one key sharing a rare word
        by chance counts less than several keys that ask what the question asks."""
        if self._key_bm25 is None:
            return []
        scores = self._key_bm25_scores(query)
        first_chunk = self._first_chunks(allowed)
        found: dict[str, list[float]] = {}
        for key, score in zip(self.index.keys, scores, strict=True):
            if score > 0 and key.passage_id in first_chunk:
                found.setdefault(key.passage_id, []).append(score)
        best = {p: sum(sorted(values, reverse=True)[:_KEYS_AGREEING]) / _KEYS_AGREEING for p, values in found.items()}
        ordered = sorted(best, key=lambda p: (-best[p], first_chunk[p]))
        return [(first_chunk[p], best[p]) for p in ordered]

    def _back_matter_keyed(self, query: str) -> set[str]:
        """The passages about the review (its title, the back matter) owning the key closest in meaning to
        the query or the one sharing most of its words (none, one or two)."""
        if not self.index.keys:
            return set()
        vectors = self.index.key_vectors
        nearest = vectors.nearest(self.query_vector(query), 1)
        owners = {vectors.passage_ids[row] for row, _ in nearest}
        scores = self._key_bm25_scores(query)
        best = max(range(len(scores)), key=lambda i: scores[i])
        if scores[best] > 0:
            owners.add(self.index.keys[best].passage_id)
        return owners & self._back_matter_passages

    @cached_property
    def _heading_words(self) -> dict[str, frozenset[str]]:
        """Passage id -> the words of its heading ("Funding"; the title's heading is "Title")."""
        return {c.passage_id: frozenset(lexical_tokens(_heading(c))) for c in self.index.chunks}

    @cached_property
    def _back_matter_passages(self) -> frozenset[str]:
        return frozenset(c.passage_id for c in self.index.chunks if c.kind in _ABOUT_THE_REVIEW)

    def _first_chunks(self, allowed: set[str]) -> dict[str, int]:
        """Passage id -> position of its first allowed chunk: what a passage-level ranking ranks."""
        return {c.passage_id: i for i, c in reversed(list(enumerate(self.index.chunks))) if c.id in allowed}

    def intents(self, query: str) -> set[str]:
        return {m.group for m in self.vocabulary.find(query)
                if self.vocabulary.group(m.group).kind == "intent"}

    def _add_intent_prior(self, query: str, fused: dict[str, float], chunks: Sequence[Chunk], rrf: int) -> None:
        """A question that asks what to do ranks the review's Perspectives (its recommendations)
        among themselves; one that asks for the gist ranks the abstract and the conclusion."""
        intents = self.intents(query)
        kinds: set[str] = set()
        if "asks for a recommendation" in intents:
            kinds.add("perspective")
        if "asks for a summary" in intents:
            kinds.add("abstract")
        if not kinds:
            return
        kind_of = {c.passage_id: c.kind for c in chunks}
        section_of = {c.passage_id: c.section for c in chunks}
        wanted = [p for p in fused if kind_of[p] in kinds or ("abstract" in kinds and section_of[p] == "7")]
        wanted.sort(key=lambda p: -fused[p])
        for rank, passage_id in enumerate(wanted, start=1):
            fused[passage_id] += self.settings.intent_weight / (rrf + rank)

    def _allowed(self, section: str | None, study: str | None, query: str, mode: Mode = "hybrid") -> set[str]:
        asked = set(lexical_tokens(query))
        # The title and the back matter (funding, competing interests, data availability) answer questions
        # about the review, never clinical ones: one is searched only when the query names its heading's
        # words or when the passage key closest to the query is one of its keys ("who paid for this
        # work?" names no heading but is a funding question; "which article is this?" asks for the title).
        asked_back_matter = self._back_matter_keyed(query) if mode == "hybrid" else set()
        chunks = [c for c in self.index.chunks
                  if c.kind not in _ABOUT_THE_REVIEW or c.passage_id in asked_back_matter
                  or asked & self._heading_words[c.passage_id]]
        if section:
            wanted = section.strip().rstrip(".")
            chunks = [c for c in chunks if c.section and (c.section == wanted or c.section.startswith(wanted + "."))]
        if study:
            cards = self.named_studies(study) or [c for c in self.index.cards if c.id == study]
            if not cards:
                raise InputRejected("No study card has that name; `assistant studies` lists them.")
            chunks = [c for c in chunks if any(self._mentions(c, card) for card in cards)]
        return {c.id for c in chunks}


def _heading(chunk: Chunk) -> str:
    return chunk.section_title or ("Title" if chunk.kind == "title" else "")


def _passage_ranks(ranked: list[tuple[int, float]], chunks: Sequence[Chunk]) -> dict[str, tuple[int, int, float]]:
    """A chunk ranking turned into a passage ranking: passage -> (rank, best chunk, its score).

    Ranking passages rather than chunks keeps a long paragraph's several chunks from pushing
    other passages down the fused list.
    """
    result: dict[str, tuple[int, int, float]] = {}
    for position, chunk_score in ranked:
        passage_id = chunks[position].passage_id
        if passage_id not in result:
            result[passage_id] = (len(result) + 1, position, chunk_score)
    return result


class Bm25:
    """rank_bm25's Okapi BM25 with each word's per-document weights computed once: a query's scores
    are the sum of its words' rows (a word repeated counts again, as in BM25Okapi.get_scores), about
    a tenth of the time of scoring every document word by word at each query."""

    def __init__(self, corpus: Sequence[Sequence[str]]) -> None:
        okapi = BM25Okapi(corpus)
        self.idf: dict[str, float] = {word: float(value) for word, value in okapi.idf.items()}
        lengths = np.asarray(okapi.doc_len, dtype=np.float64)
        norm = okapi.k1 * (1 - okapi.b + okapi.b * lengths / okapi.avgdl)
        self._size = len(corpus)
        self._rows: dict[str, npt.NDArray[np.float64]] = {}
        for doc, frequencies in enumerate(okapi.doc_freqs):
            for word, count in frequencies.items():
                row = self._rows.get(word)
                if row is None:
                    row = self._rows[word] = np.zeros(self._size)
                row[doc] = self.idf.get(word, 0.0) * count * (okapi.k1 + 1) / (count + norm[doc])

    def get_scores(self, query: Sequence[str]) -> npt.NDArray[np.float64]:
        scores = np.zeros(self._size)
        for word in query:
            row = self._rows.get(word)
            if row is not None:
                scores += row
        return scores
