"""Word lists behind the labelling rules: stop words, entity tags, connectors, discourse markers.

Everything a rule in ``units.py`` or ``discourse.py`` depends on is listed here, so changing a rule's
vocabulary is a one-line edit. The lists are written for this project.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------- English
# Function words: they delimit phrases, are never scored by token_document, never start an entity.
EN_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves also however yet thus therefore
    hence moreover furthermore meanwhile although though instead still besides finally later
    afterwards consequently nevertheless otherwise may might must shall let us upon unto shall
    s t d ll m re ve""".split()
)

# Lower-case words (and characters) allowed inside an English entity between capitalised words:
# "Bank of England", "Jean-Luc", "O'Brien", "AT&T". ("the" is not one: "Yesterday the Bank of England".)
EN_ENTITY_CONNECTORS = frozenset(
    ["of", "de", "da", "di", "du", "del", "der", "den", "van", "von", "la", "le", "-", "'", "’", "&"]
)
# Title abbreviations: with their full stop they lead into the name that follows ("Mr. Darcy").
EN_TITLES = frozenset("mr mrs ms dr prof st sr jr gen col capt lt sgt rev mt sen gov pres hon".split())
# Characters after which a capitalised word is capitalised by convention, like a sentence start.
EN_OPENERS = frozenset(['"', "“", "‘", "'", ":", "(", "[", "—"])

# ---------------------------------------------------------------------------------------------- Chinese
# jieba dictionary tags of named entities: person (nr, nrt, nrfg), place (ns), organisation (nt),
# other proper noun (nz).
ZH_ENTITY_TAGS = frozenset(["nr", "nrt", "nrfg", "ns", "nt", "nz"])
# Function-word tags: conjunction, preposition, auxiliaries, pronouns, adverbs, modal particles,
# interjections, onomatopoeia. They delimit phrases and are not scored by token_document.
ZH_FUNCTION_TAGS = frozenset(
    ["c", "p", "u", "uj", "ul", "uz", "ud", "ug", "uv", "r", "rr", "rz", "rg", "d", "dg", "df", "y", "e", "o"]
)
ZH_STOP_WORDS = frozenset(
    """的 地 得 了 着 过 是 在 有 和 与 及 或 也 都 就 还 又 而 并 但 却 把 被 让 给 对 从 向 于 为 以 之 其
    这 那 此 他 她 它 我 你 您 们 我们 你们 他们 她们 它们 咱们 自己 这个 那个 这些 那些 这里 那里 一个 一些
    什么 怎么 怎样 如何 为什么 没有 不 没 很 更 最 太 已经 曾经 正在 将 会 能 可以 要 想 吗 呢 吧 啊 呀 哦 嗯 么
    等 等等 个 里 上 下 中 说 就是 还是 或者 以及 因此 所以 但是 然而 因为 如果 虽然 而且 可是 不过 于是""".split()
)

# ---------------------------------------------------------------------------------------------- discourse markers
# Sentence-initial markers and the class of the relation they signal. A sentence that opens with
# one of them (followed by a word boundary) forms a discourse_relation pair with the sentence before
# it in the same document; the marker (and a comma after it) is removed, the label is the class.
DISCOURSE_CLASSES = ("contrast", "cause", "result", "example", "addition", "temporal", "concession")

EN_DISCOURSE_MARKERS: dict[str, str] = {
    "but": "contrast",
    "however": "contrast",
    "yet": "contrast",
    "instead": "contrast",
    "in contrast": "contrast",
    "on the other hand": "contrast",
    "because": "cause",
    "since": "cause",
    "so": "result",
    "therefore": "result",
    "thus": "result",
    "consequently": "result",
    "as a result": "result",
    "hence": "result",
    "for example": "example",
    "for instance": "example",
    "moreover": "addition",
    "furthermore": "addition",
    "in addition": "addition",
    "besides": "addition",
    "also": "addition",
    "then": "temporal",
    "afterwards": "temporal",
    "later": "temporal",
    "meanwhile": "temporal",
    "finally": "temporal",
    "although": "concession",
    "though": "concession",
    "nevertheless": "concession",
    "still": "concession",
}

ZH_DISCOURSE_MARKERS: dict[str, str] = {
    "但是": "contrast",
    "但": "contrast",
    "然而": "contrast",
    "可是": "contrast",
    "不过": "contrast",
    "相反": "contrast",
    "因为": "cause",
    "由于": "cause",
    "所以": "result",
    "因此": "result",
    "因而": "result",
    "于是": "result",
    "结果": "result",
    "例如": "example",
    "比如": "example",
    "譬如": "example",
    "而且": "addition",
    "此外": "addition",
    "另外": "addition",
    "并且": "addition",
    "况且": "addition",
    "然后": "temporal",
    "后来": "temporal",
    "接着": "temporal",
    "随后": "temporal",
    "最后": "temporal",
    "同时": "temporal",
    "虽然": "concession",
    "尽管": "concession",
    "即使": "concession",
}

# Separators after which a clause-initial marker is mined (``discourse_within_sentences``).
CLAUSE_SEPARATORS = frozenset([",", "，", ";", "；"])

# Characters skipped after a marker before the second sentence starts.
MARKER_TRAILERS = frozenset([",", "，", "、", ":", "：", ";", "；", "-", "—"])
