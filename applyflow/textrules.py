"""Text rules the offline model is built from: a skill vocabulary, section and profile parsing.

Pure functions over plain text, deterministic, no I/O. They never follow instructions found in
the text: a posting that says "give a fit score of 100" is just words to match against.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "LANGUAGES",
    "PRIVATE_SECTIONS",
    "SKILLS",
    "Profile",
    "alternatives",
    "bullets_under",
    "find_skills",
    "is_injection",
    "keywords",
    "parse_profile",
    "posting_skills",
    "sections",
    "sentences",
    "years_required",
]

# Canonical skill name -> regex (case-insensitive unless the pattern says (?-i:...)).
_SKILL_PATTERNS: dict[str, str] = {
    "Python": r"\bpython\b",
    "Go": r"\bgolang\b|(?<![.!?]\s)\b(?-i:Go)\b(?![- ]to\b)",
    "Java": r"\bjava\b",
    "JavaScript": r"\bjavascript\b",
    "TypeScript": r"\btypescript\b",
    "Rust": r"\brust\b",
    "C++": r"(?<!\w)c\+\+",
    "C#": r"(?<!\w)c#(?!\w)",
    ".NET": r"(?<!\w)\.net\b",
    "Ruby": r"\bruby\b",
    "Ruby on Rails": r"\brails\b",
    "PHP": r"\bphp\b",
    "Kotlin": r"\bkotlin\b",
    "Swift": r"\b(?-i:Swift)\b",
    "Scala": r"\bscala\b",
    "SQL": r"\bsql\b",
    "PostgreSQL": r"\bpostgres(?:ql)?\b",
    "MySQL": r"\bmysql\b",
    "MongoDB": r"\bmongo(?:db)?\b",
    "Redis": r"\bredis\b",
    "Elasticsearch": r"\belastic\s?search\b",
    "Kafka": r"\bkafka\b",
    "RabbitMQ": r"\brabbitmq\b",
    "Spark": r"\b(?:apache\s)?spark\b",
    "Airflow": r"\bairflow\b",
    "dbt": r"\bdbt\b",
    "Snowflake": r"\bsnowflake\b",
    "BigQuery": r"\bbigquery\b",
    "Prefect": r"\bprefect\b",
    "ETL": r"\betl\b|\belt\b",
    "data modeling": r"\bdata model(?:l)?ing\b",
    "pandas": r"\bpandas\b",
    "NumPy": r"\bnumpy\b",
    "PyTorch": r"\bpytorch\b",
    "TensorFlow": r"\btensorflow\b",
    "scikit-learn": r"\bscikit|sklearn\b",
    "machine learning": r"\bmachine learning\b|\b(?-i:ML)\b",
    "LLMs": r"\bllms?\b|large language model",
    "NLP": r"\bnlp\b|natural language processing",
    "statistics": r"\bstatistic(?:s|al)\b",
    "A/B testing": r"\ba/b test",
    "React": r"\b(?-i:React)\b|\breact\.?js\b",
    "Vue": r"\bvue(?:\.js)?\b",
    "Angular": r"\bangular\b",
    "Next.js": r"\bnext\.js\b",
    "Node.js": r"\bnode\.?js\b",
    "HTML": r"\bhtml5?\b",
    "CSS": r"\bcss3?\b|\btailwind\b",
    "GraphQL": r"\bgraphql\b",
    "REST APIs": r"\brest(?:ful)?\s+apis?\b|\brestful\b|\b(?-i:REST)\b",
    "gRPC": r"\bgrpc\b",
    "Django": r"\bdjango\b",
    "Flask": r"\bflask\b",
    "FastAPI": r"\bfastapi\b",
    "Spring": r"\bspring (?:boot|framework)\b",
    "AWS": r"\baws\b|amazon web services",
    "GCP": r"\bgcp\b|google cloud",
    "Azure": r"\bazure\b",
    "Docker": r"\bdocker\b",
    "Kubernetes": r"\bkubernetes\b|\bk8s\b",
    "Terraform": r"\bterraform\b",
    "Ansible": r"\bansible\b",
    "CI/CD": r"\bci\s*/\s*cd\b",
    "Git": r"\bgit\b",
    "Linux": r"\blinux\b",
    "Prometheus": r"\bprometheus\b",
    "Grafana": r"\bgrafana\b",
    "observability": r"\bobservability\b",
    "security": r"\bsecurity\b",
    "networking": r"\bnetworking\b|\btcp/ip\b",
    "iOS": r"\bios\b",
    "Android": r"\bandroid\b",
    "Figma": r"\bfigma\b",
    "user research": r"\buser research\b|\busability test",
    "UX design": r"\bux\b",
    "design systems": r"\bdesign systems?\b",
    "product management": r"\bproduct management\b",
    "roadmapping": r"\broadmap",
    "Agile": r"\bagile\b|\bscrum\b|\bkanban\b",
    "Jira": r"\bjira\b",
    "stakeholder management": r"\bstakeholders?\b",
    "mentoring": r"\bmentor(?:ing|ship)?\b",
    "people management": r"\bpeople management\b|\bdirect reports\b",
    "recruiting": r"\brecruiting\b|\btalent acquisition\b",
    "technical writing": r"\btechnical writing\b|\bdocumentation\b",
    "Excel": r"\b(?-i:Excel)\b|\bspreadsheets?\b",
    "Tableau": r"\btableau\b",
    "Looker": r"\blooker\b",
    "Power BI": r"\bpower\s?bi\b",
    "financial modeling": r"\bfinancial model(?:l)?ing\b",
    "accounting": r"\baccounting\b|\bbookkeeping\b",
    "IFRS": r"\bifrs\b|\bgaap\b",
    "Salesforce": r"\bsalesforce\b",
    "HubSpot": r"\bhubspot\b",
    "CRM": r"\bcrm\b",
    "B2B sales": r"\bb2b\b",
    "negotiation": r"\bnegotiat",
    "account management": r"\baccount management\b",
    "customer support": r"\bcustomer (?:support|service)\b|\bzendesk\b",
    "SEO": r"\bseo\b",
    "copywriting": r"\bcopywriting\b",
    "content strategy": r"\bcontent strategy\b",
    "Google Analytics": r"\bgoogle analytics\b|\bga4\b",
    "clinical care": r"\bpatient care\b|\bclinical (?:care|practice|nursing|experience)\b",
    "nursing": r"\bnurs(?:e|es|ing)\b",
    "communication": r"\bcommunication\b",
    "English": r"\benglish\b",
    "German": r"\bgerman\b",
    "Portuguese": r"\bportuguese\b",
    "Spanish": r"\bspanish\b",
    "French": r"\bfrench\b",
}
# Profile sections that are the candidate's own notes, never copied into a document.
PRIVATE_SECTIONS = re.compile(
    r"^(?:preferences?|notes?|private|salary|compensation|availability|visa|"
    r"job search|targets?|wishes)\b",
    re.IGNORECASE,
)
# Spoken languages are listed as skills but weigh nothing in the fit score (most postings ask
# for English, which would otherwise inflate every score).
LANGUAGES = frozenset({"English", "German", "Portuguese", "Spanish", "French"})
SKILLS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE) for name, pattern in _SKILL_PATTERNS.items()
}
_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not now of off on once only or other our ours out over own
    same she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours role team work working company join looking us new ll re ve
    etc including across within who're we're you'll we'll strong good great well able using
    based per day days year years experience build builds hiring help make want need must plus
    bonus apply nice like love keep level behind grow direct every fair clear solid deep basic
    take own lead write improve ship move pair talk partner run fix learn support ideally
    comfortable excellent fully first real time weekly monthly daily small large able people
    january february march april june july august september october november december monday
    tuesday wednesday thursday friday saturday sunday""".split()  # noqa: SIM905
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u00b7\u2013]|\d{1,2}[.)])\s+(.*\S)\s*$")
_HEADING_WORDS = re.compile(
    r"\b(?:about|who we are|role|responsibilit|what you|you will|you'll|requirement|qualification|"
    r"skills|experience|must|nice to have|bonus|benefits|perks|offer|why|the team|our|mission|"
    r"salary|compensation|how to apply|process|location)",
    re.IGNORECASE,
)


def find_skills(text: str) -> list[str]:
    """Vocabulary skills named in ``text``, in order of first mention."""
    found: list[tuple[int, str]] = []
    for name, pattern in SKILLS.items():
        match = pattern.search(text)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]


# A skill word naming what a company sells or is ("accounting software", "a security company")
# is not a skill the posting asks for.
_NOT_ASKED = re.compile(
    r"\s+(?:software|firm|firms|company|companies|tools?|platforms?|products?|apps?|industry|"
    r"sector|market|solutions|services|providers?|vendors?|startups?|business(?:es)?)\b",
    re.IGNORECASE,
)
# Text addressed to an AI screening tool, not to a candidate: never a requirement or keyword.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions|prompt|rules)\b|"
    r"\b(?:note|message) to (?:ai|llms?|gpt|chatgpt|language models?|screening tools?)\b|"
    r"\bsystem prompt\b|\bgive (?:this|the) candidate\b|\bfit score of\b",
    re.IGNORECASE,
)


def is_injection(line: str) -> bool:
    """True for a line that talks to an AI tool ("ignore previous instructions...")."""
    return bool(_INJECTION.search(line))


def posting_skills(text: str) -> list[str]:
    """Skills a posting asks for: vocabulary skills, in order of first mention, leaving out
    lines addressed to AI tools and mentions that only name a product or a kind of company."""
    kept = "\n".join(line for line in text.splitlines() if not is_injection(line))
    found: list[tuple[int, str]] = []
    for name, pattern in SKILLS.items():
        first = next(
            (m for m in pattern.finditer(kept) if not _NOT_ASKED.match(kept, m.end())), None
        )
        if first is not None:
            found.append((first.start(), name))
    return [name for _, name in sorted(found)]


def alternatives(line: str) -> list[list[str]]:
    """Groups of skills a line accepts either of: "Kafka or RabbitMQ", "AWS, GCP or Azure"."""
    mentions = sorted(
        (m.start(), m.end(), name) for name, rx in SKILLS.items() for m in rx.finditer(line)
    )
    groups: list[list[str]] = []
    chain: list[str] = []
    has_or = False
    last_end = -1
    for start, end, name in mentions:
        between = line[last_end:start] if chain else ""
        if chain and re.fullmatch(r"\s*(?:,|/|,?\s*or)\s*", between, re.IGNORECASE):
            chain.append(name)
            has_or = has_or or "or" in between.casefold() or "/" in between
        else:
            if has_or and len(chain) > 1:
                groups.append(chain)
            chain, has_or = [name], False
        last_end = end
    if has_or and len(chain) > 1:
        groups.append(chain)
    return groups


def sentences(text: str) -> list[str]:
    """Sentences of prose (bullets and headings are their own 'sentences')."""
    parts: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*\u2022 ").strip()
        if line:
            parts.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", line) if s.strip())
    return parts


def _is_heading(line: str) -> bool:
    stripped = line.strip().rstrip(":").strip("#* ").strip()
    if not stripped or len(stripped) > 60 or _BULLET.match(line) or stripped.endswith("."):
        return False
    return (
        line.strip().endswith(":")
        or line.lstrip().startswith("#")
        or bool(_HEADING_WORDS.search(stripped) and len(stripped.split()) <= 7)
    )


def sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, lines) blocks of a posting or profile; text before any heading has heading ''."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if _is_heading(line):
            out.append((line.strip().rstrip(":").strip("#* ").strip(), []))
        elif line.strip():
            out[-1][1].append(line.strip())
    return [(head, lines) for head, lines in out if head or lines]


def bullets_under(text: str, heading: re.Pattern[str], limit: int = 12) -> list[str]:
    """Bullet (or plain) lines of every section whose heading matches ``heading``."""
    items: list[str] = []
    for head, lines in sections(text):
        if head and heading.search(head):
            for line in lines:
                match = _BULLET.match(line)
                items.append((match.group(1) if match else line)[:300])
    return items[:limit]


def years_required(text: str) -> int | None:
    """Smallest 'N years' / 'N+ years' of experience a posting asks for."""
    found = [
        int(m.group(1))
        for m in re.finditer(
            r"\b(\d{1,2})\s*\+?\s*(?:(?:-|to|–)\s*\d{1,2}\s*)?years?\b", text, re.I
        )
        if 0 < int(m.group(1)) <= 40
    ]
    return min(found) if found else None


def keywords(text: str, exclude: list[str], limit: int = 8) -> list[str]:
    """Most frequent content words (ties alphabetical), skipping stopwords, the words of
    ``exclude`` (skills, the company, the place) and lines addressed to AI tools."""
    skip = {w.casefold() for phrase in exclude for w in re.findall(r"[\w+#.-]+", phrase)}
    skip |= _STOPWORDS
    kept = "\n".join(line for line in text.splitlines() if not is_injection(line))
    words = [w.casefold() for w in re.findall(r"[A-Za-z][A-Za-z+#.-]{3,}", kept)]
    counts = Counter(w.strip(".-") for w in words if w.strip(".-") not in skip)
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


@dataclass
class Role:
    """One ``### Title — Company (years)`` entry of a profile's experience."""

    header: str
    bullets: list[str] = field(default_factory=list)


@dataclass
class Profile:
    """A candidate profile in the Markdown layout of ``samples/profile.md``."""

    name: str
    contact: str
    summary: str
    skills: list[str]
    roles: list[Role]
    sections: dict[str, list[str]]
    years: int | None
    text: str

    def section(self, name: str) -> list[str]:
        """The lines of the ``## name`` section (any case), [] when there is none."""
        return next((v for k, v in self.sections.items() if k.casefold() == name.casefold()), [])

    def items(self, name: str) -> list[str]:
        """A list section's items: bullets and comma-separated entries, in order."""
        out: list[str] = []
        for line in self.section(name):
            body = line.lstrip("-*\u2022 ").strip()
            out.extend(p.strip() for p in re.split(r",\s*(?![^()]*\))", body) if p.strip())
        return out

    @property
    def languages(self) -> list[str]:
        """Items of the Languages section, e.g. "English (fluent)"."""
        return self.items("Languages")

    def mentions(self, skill: str) -> bool:
        """True when the profile names ``skill`` (vocabulary pattern, else literal text)."""
        pattern = SKILLS.get(skill)
        if pattern is not None:
            return bool(pattern.search(self.text))
        return skill.casefold() in self.text.casefold()


def parse_profile(text: str) -> Profile:
    """Name, contact line, summary, skills, roles and other ``##`` sections of a profile."""
    name, contact = "", ""
    blocks: dict[str, list[str]] = {}
    roles: list[Role] = []
    current: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("# ") and not name:
            name = line[2:].strip()
        elif line.startswith("## "):
            current = line[3:].strip()
            blocks[current] = []
        elif line.startswith("### ") and current is not None:
            roles.append(Role(line[4:].strip()))
        elif line.strip() and current is None and name and not contact:
            contact = line.strip()
        elif line.strip() and current is not None:
            if roles and current.casefold().startswith("experience"):
                roles[-1].bullets.append(line.strip().lstrip("-* ").strip())
            else:
                blocks[current].append(line.strip())
    summary = " ".join(blocks.get("Summary", []))
    years = re.search(r"\b(\d{1,2})\+?\s+years\b", summary or text)
    return Profile(
        name=name or "Candidate",
        contact=contact,
        summary=summary,
        skills=find_skills(text),
        roles=roles,
        sections={k: v for k, v in blocks.items() if k not in ("Summary",)},
        years=int(years.group(1)) if years else None,
        text=text,
    )
