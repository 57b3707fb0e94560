#!/usr/bin/env python3
# Golden files for tests/test_rouge.cpp: ROUGE-1/2/L scores and tokens from Google's rouge-score
# (RougeScorer.score / score_multi, with and without use_stemmer) and stems from nltk's PorterStemmer.
# Run: ~/.venvs/parity/bin/python scripts/parity/rouge_golden.py   (writes tests/golden/rouge/)
"""Writes tests/golden/rouge/:

  pairs.json   >= 200 deterministic (reference, prediction) pairs of generated English-like text:
               empty and blank strings, punctuation, digits, uppercase, words whose Porter stems
               collide (running/runs/run), accents, CJK and other text the tokenizer drops, the two
               non-ASCII characters whose lowercase is ASCII, repeated words, long texts. For each
               pair and each use_stemmer in (false, true): both token lists and the rouge1, rouge2,
               rougeL [precision, recall, fmeasure].
  multi.json   one prediction against several references: RougeScorer.score_multi (best per type).
  stems.json   word -> PorterStemmer().stem(word) for a fixed word list and random letter strings.

Everything is a pure function of the seed below; floats are written with repr (round-trip exact).
"""
import json
import random
from importlib.metadata import version
from pathlib import Path

import nltk
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenizers

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "golden" / "rouge"
SEED = 20240611
TYPES = ["rouge1", "rouge2", "rougeL"]

# Words whose stems collide or that exercise particular Porter rules (NLTK irregular forms included).
STEM_WORDS = """
run runs running runner ran connect connected connecting connection connections connective
generous generously generosity happy happiness happier happily relational relate relation relating
conditional condition rational valenci hesitanci digitizer conformabli radicalli differentli vileli
analogousli vietnamization predication operator feudalism decisiveness hopefulness callousness
formaliti sensitiviti sensibiliti triplicate formative formalize electriciti electrical hopeful
goodness revival allowance inference airliner gyroscopic adjustable defensible irritant replacement
adjustment dependent adoption homologou communism activate angulariti homologous effective bowdlerize
probate rate cease controll roll caresses ponies ties caress cats feed agreed plastered bled motoring
sing conflated troubled sized hopping tanned falling hissing fizzed failing filing skies sky dying
lying tying news innings inning outings outing cannings canning howe proceed exceed succeed spied
tried flies cried died enjoy enjoyment spy fly try says played playing player plays yyyy syzygy
toy toys boyish buying analogy archaeology biology fully hopefulli logically generalization
universities university studies studying studied agreement agreements national nationality
organization organize organizing organized organizer argument arguments arguing argued
""".split()

NOUNS = ("cat dog house river model cache token memory paper result summary window head layer "
         "budget method score answer question city country mountain teacher student engine city "
         "computer network policy garden kitchen letter market museum office story system village").split()
VERBS = ("runs running ran run connects connected connecting jumps jumped jumping reads reading "
         "writes wrote written computes computed computing stores stored storing plays played "
         "studies studied studying agrees agreed agreeing organizes organized organizing tries tried").split()
ADJS = ("quick lazy happy happier happiest generous relational conditional national effective "
        "adjustable hopeful careful small large old new bright dark early late").split()
FUNC = "the a an of to in on at for with by from and or but is was are were it this that".split()
PUNCT = [",", ".", "!", "?", ";", ":", "-", "--", "'s", "(", ")", '"', "...", "/", "&", "#", "@", "%"]
UNICODE = ["café", "naïve", "Zürich", "résumé", "façade", "Ångström", "señor", "über", "Øresund",
           "東京", "日本語のテキスト", "北京大学", "한국어", "Москва", "Ελλάδα", "עברית", "العربية",
           "emoji🙂ok", "x²", "½", "١٢٣", "ｆｕｌｌｗｉｄｔｈ", "İstanbul", "\u212Aelvin", "straße",
           "co\u00adoperate", "zero\u200bwidth", "ﬁnance"]


def word(rng):
    r = rng.random()
    if r < 0.25:
        return rng.choice(FUNC)
    if r < 0.45:
        return rng.choice(NOUNS)
    if r < 0.60:
        return rng.choice(VERBS)
    if r < 0.70:
        return rng.choice(ADJS)
    if r < 0.82:
        return rng.choice(STEM_WORDS)
    if r < 0.88:
        return str(rng.choice([rng.randrange(10), rng.randrange(1000), rng.randrange(10**6)]))
    if r < 0.94:
        return rng.choice(UNICODE)
    return rng.choice(PUNCT)


def decorate(rng, w):
    r = rng.random()
    if r < 0.08:
        return w.upper()
    if r < 0.2:
        return w.capitalize()
    if r < 0.28:
        return w + rng.choice(PUNCT)
    if r < 0.31:
        return w + "-" + rng.choice(NOUNS)
    if r < 0.33:
        return w + str(rng.randrange(100))
    return w


def sentence(rng, n):
    words = [decorate(rng, word(rng)) for _ in range(n)]
    if words and rng.random() < 0.15:  # repeated words
        k = rng.randrange(len(words))
        words[k:k] = [words[k]] * rng.randrange(1, 4)
    sep = rng.choice([" ", " ", " ", "  ", "\t", "\n", " \n "])
    return sep.join(words)


def perturb(rng, ref):
    """A prediction related to the reference: drop / swap / replace / inflect some words."""
    toks = ref.split()
    out = []
    for t in toks:
        r = rng.random()
        if r < 0.12:
            continue
        if r < 0.22:
            out.append(decorate(rng, word(rng)))
        elif r < 0.30:
            out.append(t.upper() if rng.random() < 0.5 else t + rng.choice(["s", "ing", "ed", "ly"]))
        else:
            out.append(t)
    for _ in range(rng.randrange(3)):
        if out:
            i, j = rng.randrange(len(out)), rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]
    if rng.random() < 0.3:
        out.append(sentence(rng, rng.randrange(1, 6)))
    return " ".join(out)


def handmade():
    return [
        ("", ""),
        ("", "the cat sat on the mat"),
        ("the cat sat on the mat", ""),
        ("   ", "\t\n"),
        ("!!! ??? ...", "the cat"),
        ("the cat", "!!! ??? ..."),
        ("the cat sat on the mat", "the cat sat on the mat"),
        ("The Cat sat on THE MAT.", "the cat sat on the mat"),
        ("the cat sat on the mat", "the mat sat on the cat"),
        ("the quick brown fox jumps over the lazy dog", "the quick brown dog jumps on the log."),
        ("police killed the gunman", "the gunman killed police"),
        ("a", "a"),
        ("a b", "b a"),
        ("the the the the", "the the"),
        ("the the", "the the the the"),
        ("running runs runner run", "run running ran"),
        ("He was running quickly.", "He runs quick."),
        ("connected connecting connection", "connect connects"),
        ("generously generous generosity", "generous"),
        ("happiness happy", "happi happy"),
        ("skies sky dying lying tying news", "sky die lie tie news"),
        ("caresses ponies ties cats", "caress poni tie cat"),
        ("1,000,000 dollars in 2024", "1 000 000 dollar in 2024"),
        ("e-mail re-use co-operate", "email reuse cooperate"),
        ("café naïve résumé", "caf na ve r sum"),
        ("東京 is big", "is big 東京"),
        ("日本語のテキスト", "日本語のテキスト"),
        ("İstanbul", "i stanbul"),
        ("\u212Aelvin \u212A", "kelvin k"),
        ("straße", "strasse"),
        ("ﬁnance", "finance"),
        ("x²", "x2"),
        ("don't won't can't", "don t won t can t"),
        ("U.S.A. U.K.", "u s a u k"),
        ("yyyy syzygy toy", "yyyy syzygi toi"),
        ("abc123def 42 4.2", "abc123def 42 4 2"),
        ("word " * 60, "word " * 30),
    ]


def generated(rng, count):
    pairs = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            ref = sentence(rng, rng.randrange(3, 25))
            pred = perturb(rng, ref)
        elif kind == 1:
            ref = sentence(rng, rng.randrange(1, 8))
            pred = sentence(rng, rng.randrange(1, 8))
        elif kind == 2:
            ref = sentence(rng, rng.randrange(20, 120))
            pred = perturb(rng, ref)
        elif kind == 3:
            ref = sentence(rng, rng.randrange(0, 4))
            pred = perturb(rng, ref) if rng.random() < 0.5 else sentence(rng, rng.randrange(0, 4))
        elif kind == 4:
            ref = " ".join(rng.choice(STEM_WORDS) for _ in range(rng.randrange(2, 15)))
            pred = " ".join(rng.choice(STEM_WORDS) for _ in range(rng.randrange(2, 15)))
        else:
            ref = sentence(rng, rng.randrange(5, 30))
            pred = perturb(rng, perturb(rng, ref))
        pairs.append((ref, pred))
    return pairs


def scores_dict(s):
    return {t: [s[t].precision, s[t].recall, s[t].fmeasure] for t in TYPES}


def random_words(rng, count):
    letters = "abcdefghijklmnopqrstuvwxyz"
    weighted = "aeiouyyy" + letters + "lsst"
    suffixes = ["", "s", "es", "ies", "ied", "ed", "eed", "ing", "y", "ly", "ational", "tional", "enci",
                "anci", "izer", "bli", "abli", "alli", "entli", "eli", "ousli", "ization", "ation",
                "ator", "alism", "iveness", "fulness", "ousness", "aliti", "iviti", "biliti", "fulli",
                "logi", "icate", "ative", "alize", "iciti", "ical", "ful", "ness", "al", "ance", "ence",
                "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "sion", "tion", "ion", "ou",
                "ism", "ate", "iti", "ous", "ive", "ize", "e", "ll", "at", "bl", "iz", "ss", "sses"]
    out = []
    for _ in range(count):
        stem = "".join(rng.choice(weighted) for _ in range(rng.randrange(1, 8)))
        out.append(stem + rng.choice(suffixes))
    return out


def main():
    rng = random.Random(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    scorers = {flag: rouge_scorer.RougeScorer(TYPES, use_stemmer=flag) for flag in (False, True)}
    toks = {flag: tokenizers.DefaultTokenizer(use_stemmer=flag) for flag in (False, True)}
    meta = {"generator": "scripts/parity/rouge_golden.py", "seed": SEED,
            "rouge_score": version("rouge-score"), "nltk": nltk.__version__}

    pairs = handmade() + generated(rng, 230)
    cases = []
    for i, (ref, pred) in enumerate(pairs):
        case = {"id": i, "reference": ref, "prediction": pred}
        for flag, key in ((False, "nostem"), (True, "stem")):
            case[key] = {
                "reference_tokens": toks[flag].tokenize(ref),
                "prediction_tokens": toks[flag].tokenize(pred),
                "scores": scores_dict(scorers[flag].score(ref, pred)),
            }
        cases.append(case)
    (OUT / "pairs.json").write_text(json.dumps({**meta, "cases": cases}, ensure_ascii=False, indent=0) + "\n")

    multi = []
    for i in range(40):
        k = 1 + i % 4
        base = sentence(rng, rng.randrange(3, 20))
        refs = [perturb(rng, base) for _ in range(k)]
        if i % 7 == 3:
            refs[-1] = refs[0]  # exact tie: the first reference must win
        if i % 9 == 5:
            refs.insert(0, "")
        pred = perturb(rng, base)
        case = {"id": i, "references": refs, "prediction": pred}
        for flag, key in ((False, "nostem"), (True, "stem")):
            case[key] = {
                "per_reference": [scores_dict(scorers[flag].score(r, pred)) for r in refs],
                "best": scores_dict(scorers[flag].score_multi(refs, pred)),
            }
        multi.append(case)
    (OUT / "multi.json").write_text(json.dumps({**meta, "cases": multi}, ensure_ascii=False, indent=0) + "\n")

    stemmer = porter.PorterStemmer()
    words = sorted(set(STEM_WORDS + random_words(rng, 4000) + ["", "a", "ab", "abc", "Running", "SKIES"]))
    stems = {w: stemmer.stem(w) for w in words}
    (OUT / "stems.json").write_text(json.dumps({**meta, "stems": stems}, ensure_ascii=False, indent=0) + "\n")
    total = sum((OUT / f).stat().st_size for f in ("pairs.json", "multi.json", "stems.json"))
    print(f"wrote {len(cases)} pairs, {len(multi)} multi-reference cases, {len(stems)} stems "
          f"({total / 1024:.0f} KiB) to {OUT}")


if __name__ == "__main__":
    main()
