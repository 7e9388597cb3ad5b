"""Render a category's templates into the message one channel sends.

Templates live in ``templates/{category}/{language}/{part}``; every HTML email extends
``templates/_layouts/email.html.j2``. Easy-read wording, where a category has it, lives in
``templates/{category}/{language}/easy_read/{part}`` and replaces that part for contacts who
need easy read (any part without an easy-read file keeps the standard wording). Jinja2 runs
with ``StrictUndefined``: a variable the request does not give is an error that names the
variable and the template, never an empty gap in a message to parents. HTML is autoescaped
(``.html.j2`` files only).

Pure: the only I/O is reading template files (once each per ``TemplateLibrary``); no clock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import jinja2
from jinja2 import meta, nodes

from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel, MessageFormat
from dispatcher.rendering.links import is_link_variable, link_problem, unsafe_href
from dispatcher.rendering.sms import SmsText, normalise_whitespace, prepare_sms

Direction = Literal["ltr", "rtl"]


#: The files a language needs for each channel.
CHANNEL_PARTS: Final[Mapping[Channel, tuple[str, ...]]] = {
    Channel.SMS: ("sms.txt.j2",),
    Channel.EMAIL: ("email_subject.txt.j2", "email.html.j2", "email.txt.j2"),
    Channel.PUSH: ("push_title.txt.j2", "push_body.txt.j2"),
}
ALL_PARTS: Final = tuple(part for parts in CHANNEL_PARTS.values() for part in parts)


#: Names the dispatcher and this library always put in the context (``subject`` only for the
#: email body, where it is the rendered subject line), so a request never has to give them.
PROVIDED_NAMES: Final = frozenset(
    {"school", "contact", "students", "format", "lang", "direction", "subject"}
)


#: The folder, inside a language's, of the parts written in easy read.
EASY_READ_DIR: Final = "easy_read"

PUSH_BODY_LIMIT: Final = 240
_ELLIPSIS: Final = "..."

_RTL_LANGUAGES: Final = frozenset({"ar", "fa", "he", "ps", "ur", "ku", "ckb", "dv", "sd", "yi"})
_RTL_SCRIPTS: Final = frozenset({"arab", "hebr", "thaa", "syrc", "nkoo", "adlm", "rohg"})

_CATEGORY_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_]*")
_LANGUAGE_TAG: Final = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_UNDEFINED_NAME: Final = re.compile(r"'([^']+)' is undefined")
_UNDEFINED_ATTRIBUTE: Final = re.compile(r"has no (?:attribute|element) '?([^']+?)'?$")


class TemplateError(Exception):
    """A template cannot be rendered; the message names the template file."""

    def __init__(self, message: str, template: str) -> None:
        super().__init__(message)
        self.template = template


class MissingVariable(TemplateError):
    """The template needs a variable that the request does not give."""

    def __init__(self, variable: str, template: str) -> None:
        super().__init__(
            f"template {template} needs variable {variable!r} which the request does not give",
            template,
        )
        self.variable = variable


class SmsTooLong(TemplateError):
    """The SMS renders to more segments than the category allows."""

    def __init__(self, segments: int, limit: int, template: str, encoding: str = "") -> None:
        how = f" ({encoding})" if encoding else ""
        super().__init__(
            f"template {template} renders to {segments} SMS segments{how}; "
            f"the category allows {limit}",
            template,
        )
        self.segments = segments
        self.limit = limit
        self.encoding = encoding


class UnsafeLink(TemplateError):
    """A link would be rendered that is not https (a request's link variable, or an href in
    the HTML that is neither https, mailto, tel nor the school's website)."""

    def __init__(self, message: str, template: str, variable: str | None = None) -> None:
        super().__init__(message, template)
        self.variable = variable


@dataclass(frozen=True)
class RenderedMessage:
    """One message as a channel sends it.

    SMS: ``body`` and ``sms`` (encoding, segments). Email: ``subject``, ``body`` (plain text)
    and ``html``. Push: ``title`` and ``body``. Fields a channel does not use are None.
    """

    category: str
    channel: Channel
    language: str
    format: MessageFormat
    subject: str | None
    body: str
    html: str | None
    title: str | None
    sms: SmsText | None
    direction: str


@functools.lru_cache(maxsize=256)
def text_direction(language: str) -> Direction:
    """Return ``"rtl"`` for a language written right to left, otherwise ``"ltr"``.

    Decided by the primary subtag (ur, ar, fa, he, ps, ku, ckb, dv, sd, yi are right to
    left), unless the tag names a script: ``pa-Arab`` is rtl, ``ku-Latn`` is ltr.
    """
    subtags = re.split(r"[-_]", language.strip().lower())
    script = next((tag for tag in subtags[1:] if len(tag) == 4 and tag.isalpha()), None)
    if script is not None:
        return "rtl" if script in _RTL_SCRIPTS else "ltr"
    return "rtl" if subtags[0] in _RTL_LANGUAGES else "ltr"


def join_names(names: Iterable[str], conjunction: str = "and", separator: str = ", ") -> str:
    """Join names as a person would: ``Amira``, ``Amira and Jan``, ``Amira, Jan and Ola``.

    Available in templates as the ``join_names`` filter, with the conjunction (and the
    separator) of the template's language: ``students | join_names("i")``.
    """
    items = [str(name) for name in names]
    if len(items) <= 1:
        return "".join(items)
    return f"{separator.join(items[:-1])} {conjunction} {items[-1]}"


def _autoescape(template_name: str | None) -> bool:
    return template_name is not None and template_name.endswith(".html.j2")


def _is_given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - len(_ELLIPSIS)]
    word_end = cut.rfind(" ")
    if word_end > len(cut) * 3 // 4:  # end on a whole word unless that loses too much
        cut = cut[:word_end]
    return cut.rstrip(" ,;:-") + _ELLIPSIS


# --- which variables a template needs -------------------------------------------------------
#
# jinja2.meta.find_undeclared_variables lists every name a template reads, including the
# optional ones it only reads under ``{% if x is defined %}`` (or ``x | default(...)``). The
# walk below separates those: a name is required if some read of it is not guarded.


def _defined_if_true(test: nodes.Node) -> frozenset[str]:
    """Names that are certainly defined when ``test`` is true."""
    if isinstance(test, nodes.Test) and isinstance(test.node, nodes.Name):
        return frozenset({test.node.name}) if test.name == "defined" else frozenset()
    if isinstance(test, nodes.Not):
        return _defined_if_false(test.node)
    if isinstance(test, nodes.And):
        return _defined_if_true(test.left) | _defined_if_true(test.right)
    if isinstance(test, nodes.Or):
        return _defined_if_true(test.left) & _defined_if_true(test.right)
    return frozenset()


def _defined_if_false(test: nodes.Node) -> frozenset[str]:
    """Names that are certainly defined when ``test`` is false."""
    if isinstance(test, nodes.Test) and isinstance(test.node, nodes.Name):
        return frozenset({test.node.name}) if test.name == "undefined" else frozenset()
    if isinstance(test, nodes.Not):
        return _defined_if_true(test.node)
    if isinstance(test, nodes.Or):
        return _defined_if_false(test.left) | _defined_if_false(test.right)
    if isinstance(test, nodes.And):
        return _defined_if_false(test.left) & _defined_if_false(test.right)
    return frozenset()


def _unguarded_reads(node: nodes.Node, guarded: frozenset[str]) -> set[str]:
    """Names read somewhere in ``node`` without a guard that they are defined."""
    if isinstance(node, nodes.Name):
        return {node.name} if node.ctx == "load" and node.name not in guarded else set()
    if (
        isinstance(node, nodes.Test | nodes.Filter)
        and isinstance(node.node, nodes.Name)
        and node.name in ("defined", "undefined", "default", "d")
    ):
        children: Iterable[nodes.Node] = [
            *node.args,
            *node.kwargs,
            *(extra for extra in (node.dyn_args, node.dyn_kwargs) if extra is not None),
        ]
        return {name for child in children for name in _unguarded_reads(child, guarded)}
    if isinstance(node, nodes.If):
        reads = _unguarded_reads(node.test, guarded)
        reads |= _reads_all(node.body, guarded | _defined_if_true(node.test))
        otherwise = guarded | _defined_if_false(node.test)
        for branch in node.elif_:
            reads |= _unguarded_reads(branch, otherwise)
            otherwise |= _defined_if_false(branch.test)
        return reads | _reads_all(node.else_, otherwise)
    if isinstance(node, nodes.CondExpr):
        reads = _unguarded_reads(node.test, guarded)
        reads |= _unguarded_reads(node.expr1, guarded | _defined_if_true(node.test))
        if node.expr2 is not None:
            reads |= _unguarded_reads(node.expr2, guarded | _defined_if_false(node.test))
        return reads
    if isinstance(node, nodes.And):
        return _unguarded_reads(node.left, guarded) | _unguarded_reads(
            node.right, guarded | _defined_if_true(node.left)
        )
    if isinstance(node, nodes.Or):
        return _unguarded_reads(node.left, guarded) | _unguarded_reads(
            node.right, guarded | _defined_if_false(node.left)
        )
    return _reads_all(node.iter_child_nodes(), guarded)


def _reads_all(children: Iterable[nodes.Node], guarded: frozenset[str]) -> set[str]:
    return {name for child in children for name in _unguarded_reads(child, guarded)}


@dataclass(frozen=True)
class _Variables:
    required: frozenset[str]
    optional: frozenset[str]
    #: Every top-level name read, provided ones included; None when a template chosen at
    #: run time (``{% include name_variable %}``) makes that unknowable.
    reads: frozenset[str] | None = None


class TemplateLibrary:
    """The templates of one ``templates/`` folder, rendered for any category and language."""

    def __init__(self, templates_dir: Path) -> None:
        self._templates_dir = Path(templates_dir)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self._templates_dir),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._env.filters["join_names"] = join_names
        self._variables: dict[str, _Variables] = {}
        # Looked up for every message: kept here rather than recomputed (names checked) or
        # fetched through Jinja's cache (which locks).
        self._names: dict[tuple[str, str, tuple[str, ...], MessageFormat], dict[str, str]] = {}
        self._templates: dict[str, jinja2.Template] = {}

    def categories(self) -> frozenset[str]:
        """Return the categories that have a folder of templates (folders named ``_*`` are not)."""
        if not self._templates_dir.is_dir():
            return frozenset()
        return frozenset(
            entry.name
            for entry in self._templates_dir.iterdir()
            if entry.is_dir() and _CATEGORY_NAME.fullmatch(entry.name)
        )

    def languages(self, category: str) -> frozenset[str]:
        """Return the languages that have every part of every channel for ``category``.

        An unknown category has no languages.
        """
        if category not in self.categories():
            return frozenset()
        return frozenset(
            entry.name
            for entry in (self._templates_dir / category).iterdir()
            if entry.is_dir()
            and _LANGUAGE_TAG.fullmatch(entry.name)
            and all((entry / part).is_file() for part in ALL_PARTS)
        )

    def required_variables(self, category: str, language: str) -> frozenset[str]:
        """Return the variables a request must give to render ``category`` in ``language``.

        Every top-level name the category's files read (following the email layout and any
        includes, and the easy-read parts too), except the names the dispatcher always
        provides (``PROVIDED_NAMES``) and the optional ones, which the templates only read
        under ``{% if x is defined %}`` or through ``x | default(...)``. Raises
        ``TemplateError`` if a file is missing.
        """
        return frozenset().union(
            *(variables.required for variables in self._every_part_variables(category, language))
        )

    def optional_variables(self, category: str, language: str) -> frozenset[str]:
        """Return the variables ``category`` uses in ``language`` only when they are given."""
        parts = self._every_part_variables(category, language)
        every = frozenset().union(*(p.required | p.optional for p in parts))
        return every - self.required_variables(category, language)

    def has_easy_read(self, category: str, language: str, channel: Channel) -> bool:
        """Whether some part of ``channel``'s message for ``category`` in ``language`` is
        written in easy read (else easy-read contacts get the standard wording)."""
        standard = self._template_names(category, language, CHANNEL_PARTS[channel])
        easy = self._template_names(
            category, language, CHANNEL_PARTS[channel], MessageFormat.EASY_READ
        )
        return standard != easy

    def _every_part_variables(self, category: str, language: str) -> list[_Variables]:
        return [
            self._part_variables(category, language, part, fmt)
            for part in ALL_PARTS
            for fmt in (MessageFormat.STANDARD, MessageFormat.EASY_READ)
        ]

    def render(
        self,
        category: str,
        channel: Channel,
        language: str,
        fmt: MessageFormat,
        context: Mapping[str, Any],
    ) -> RenderedMessage:
        """Render ``category`` for one channel, language and format.

        ``context`` holds the request's variables at top level plus ``school`` (a mapping
        with name, phone, website, reply_to) and optionally ``contact`` (with first_name)
        and ``students`` (first names). A variable given as None or as a blank string
        counts as not given. The library adds ``lang``, ``direction`` and ``format`` (the
        format's value), replacing any given. SMS text is sanitised and measured
        (``prepare_sms``); the push body is one line of at most 240 characters (cut with
        "..."); the email subject and push title are one line. ``EASY_READ`` uses the
        easy-read parts where they exist.

        Raises ``MissingVariable`` naming the variable and template file, or
        ``TemplateError`` if a template is missing or broken.
        """
        direction = text_direction(language)
        values: dict[str, Any] = {key: value for key, value in context.items() if _is_given(value)}
        values.update(lang=language, direction=direction, format=fmt.value)
        names = self._template_names(category, language, CHANNEL_PARTS[channel], fmt)
        for part, name in names.items():
            missing = self._part_variables(category, language, part, fmt).required - values.keys()
            if missing:
                raise MissingVariable(sorted(missing)[0], name)

        def message(
            body: str,
            subject: str | None = None,
            html: str | None = None,
            title: str | None = None,
            sms: SmsText | None = None,
        ) -> RenderedMessage:
            return RenderedMessage(
                category, channel, language, fmt, subject, body, html, title, sms, direction
            )

        if channel is Channel.SMS:
            sms = prepare_sms(self._render(names["sms.txt.j2"], values))
            return message(sms.text, sms=sms)
        if channel is Channel.EMAIL:
            subject = _single_line(self._render(names["email_subject.txt.j2"], values))
            values["subject"] = subject
            return message(
                normalise_whitespace(self._render(names["email.txt.j2"], values)),
                subject=subject,
                html=self._render(names["email.html.j2"], values).strip() + "\n",
            )
        title = _single_line(self._render(names["push_title.txt.j2"], values))
        body = _single_line(self._render(names["push_body.txt.j2"], values))
        return message(_truncate(body, PUSH_BODY_LIMIT), title=title)

    def reads_any(
        self,
        category: str,
        channel: Channel,
        language: str,
        names: Iterable[str],
        fmt: MessageFormat = MessageFormat.STANDARD,
    ) -> bool:
        """Whether ``channel``'s templates for ``category`` in ``language`` and ``fmt`` (with
        their layout and includes) read any of ``names``; True when a template is chosen at
        run time and this cannot be known. A message whose templates read none of a family's
        names renders the same for every family (the filters and globals templates may use
        cannot reach the context)."""
        wanted = frozenset(names)
        for part in CHANNEL_PARTS[channel]:
            reads = self._part_variables(category, language, part, fmt).reads
            if reads is None or reads & wanted:
                return True
        return False

    def preview(
        self,
        category: str,
        languages: Iterable[str],
        channels: Iterable[Channel],
        context: Mapping[str, Any],
        max_sms_segments: int,
    ) -> list[RenderedMessage]:
        """Render every language and channel (email also in large print, and each channel in
        easy read where it has easy-read parts) before sending.

        Returns the messages in order (language, then channel, then format). Raises the
        first problem found: ``MissingVariable``, ``SmsTooLong`` when an SMS is more than
        ``max_sms_segments`` segments, or ``TemplateError``.
        """
        wanted_channels = tuple(channels)
        messages: list[RenderedMessage] = []
        for language in languages:
            for channel in wanted_channels:
                formats = [MessageFormat.STANDARD]
                if channel is Channel.EMAIL:
                    formats.append(MessageFormat.LARGE_PRINT)
                if self.has_easy_read(category, language, channel):
                    formats.append(MessageFormat.EASY_READ)
                for fmt in formats:
                    rendered = self.render(category, channel, language, fmt, context)
                    if rendered.sms is not None and rendered.sms.segments > max_sms_segments:
                        names = self._template_names(category, language, ("sms.txt.j2",), fmt)
                        raise SmsTooLong(
                            rendered.sms.segments,
                            max_sms_segments,
                            names["sms.txt.j2"],
                            rendered.sms.encoding,
                        )
                    messages.append(rendered)
        return messages

    def compile_all(self) -> int:
        """Compile every template now rather than on its first message (a worker does this
        at start, so the first text of an emergency waits for nothing); return how many.
        A broken template is left for ``preview`` to report."""
        compiled = 0
        for name in self._env.list_templates(filter_func=lambda n: n.endswith(".j2")):
            try:
                self._template(name)
            except jinja2.TemplateError:
                continue
            compiled += 1
        return compiled

    # --- internals ----------------------------------------------------------------------

    def _template_names(
        self,
        category: str,
        language: str,
        parts: tuple[str, ...],
        fmt: MessageFormat = MessageFormat.STANDARD,
    ) -> dict[str, str]:
        """The template file of each part: the easy-read one for ``EASY_READ`` where it
        exists, else the standard one (large print is the standard wording, laid out
        larger)."""
        key = (category, language, parts, fmt)
        names = self._names.get(key)
        if names is None:
            if not _CATEGORY_NAME.fullmatch(category):
                raise TemplateError(f"{category!r} is not a category name", category)
            if not _LANGUAGE_TAG.fullmatch(language):
                raise TemplateError(f"{language!r} is not a language tag", f"{category}/{language}")
            folder = f"{category}/{language}"
            easy = fmt is MessageFormat.EASY_READ
            names = self._names[key] = {
                part: f"{folder}/{EASY_READ_DIR}/{part}"
                if easy and (self._templates_dir / folder / EASY_READ_DIR / part).is_file()
                else f"{folder}/{part}"
                for part in parts
            }
        return names

    def _template(self, name: str) -> jinja2.Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self._env.get_template(name)
        return template

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        for variable, value in values.items():
            problem = is_link_variable(variable) and isinstance(value, str) and link_problem(value)
            if problem:
                raise UnsafeLink(f"variable {variable!r} {problem}", name, variable)
        try:
            rendered = self._template(name).render(values)
        except jinja2.UndefinedError as exc:
            raise MissingVariable(_undefined_name(str(exc)), name) from exc
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} does not exist", name) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(_syntax_message(exc, name), name) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name} cannot be rendered: {exc}", name) from exc
        if _autoescape(name):
            school = values.get("school")
            website = school.get("website") if isinstance(school, Mapping) else None
            scheme = unsafe_href(rendered, [website] if isinstance(website, str) else [])
            if scheme is not None:
                raise UnsafeLink(
                    f"template {name} would render a {scheme} link; links must be https", name
                )
        return rendered

    def _part_variables(
        self,
        category: str,
        language: str,
        part: str,
        fmt: MessageFormat = MessageFormat.STANDARD,
    ) -> _Variables:
        name = self._template_names(category, language, (part,), fmt)[part]
        cached = self._variables.get(name)
        if cached is None:
            cached = self._analyse(name)
            self._variables[name] = cached
        return cached

    def _analyse(self, name: str) -> _Variables:
        read: set[str] = set()
        required: set[str] = set()
        pending = [name]
        seen: set[str] = set()
        knowable = True
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            tree = self._parse(current, referenced_from=name)
            undeclared = meta.find_undeclared_variables(tree)
            read |= undeclared
            required |= undeclared & _unguarded_reads(tree, frozenset())
            for ref in meta.find_referenced_templates(tree):
                if ref:
                    pending.append(ref)
                else:
                    knowable = False
        return _Variables(
            required=frozenset(required - PROVIDED_NAMES),
            optional=frozenset(read - required - PROVIDED_NAMES),
            reads=frozenset(read) if knowable else None,
        )

    def _parse(self, name: str, referenced_from: str) -> nodes.Template:
        loader = self._env.loader
        assert loader is not None
        try:
            source, filename, _ = loader.get_source(self._env, name)
            return self._env.parse(source, name, filename)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name} does not exist", referenced_from) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(_syntax_message(exc, name), name) from exc


def _undefined_name(message: str) -> str:
    for pattern in (_UNDEFINED_NAME, _UNDEFINED_ATTRIBUTE):
        found = pattern.search(message)
        if found:
            return found.group(1)
    return message


def _syntax_message(exc: jinja2.TemplateSyntaxError, name: str) -> str:
    where = exc.name or name
    return f"template {where} line {exc.lineno}: {exc.message}"


def school_context(school: SchoolConfig) -> dict[str, str]:
    """What templates may say about the school."""
    return {
        "name": school.name,
        "phone": school.phone,
        "website": school.website,
        "reply_to": school.reply_to,
    }
