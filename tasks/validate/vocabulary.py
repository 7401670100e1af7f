"""The words that name each measurement, in one table: its names, abbreviations and plain-language terms,
and the spellings of each unit. Adding a phrasing is one edit here.

Every phrase is lower case, its tokens separated by spaces as the tokenizer splits them ("p - wave",
"r / s ratio"). `tasks/validate/keywords.py` reads `MEASUREMENTS` (which measurement a number is said of),
`tasks/validate/quantities.py` reads `UNITS` (what unit it is written in). A keyword's kind says what it may
own: `UNIT_KINDS` in keywords.py lists the kinds each unit accepts, and a wave-only kind ("wave", with the
wave) becomes an amplitude, a duration or an axis by the unit of its number.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Terms:
    """The words for one keyword kind (and wave): full names, abbreviations (report and telegraphic shorthand:
    "QTcB", "NSR 73"), and the plain words of answers written for patients ("from the upper to the lower
    chambers")."""

    kind: str
    wave: str | None = None
    names: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    lay: tuple[str, ...] = ()

    def phrases(self) -> tuple[str, ...]:
        return self.names + self.abbreviations + self.lay


@dataclass(frozen=True)
class UnitTerms:
    """The spellings of one canonical unit, and its plain-language forms ("times a minute")."""

    spellings: tuple[str, ...] = ()
    lay: tuple[str, ...] = ()


MEASUREMENTS: tuple[Terms, ...] = (
    # the ventricular rate; a rhythm's name or abbreviation owns the rate written after it ('NSR 73')
    Terms('rate',
          names=('heart rate', 'rate', 'pulse', 'ventricular rate', 'ventricular response', 'frequency',
              'tachycardia', 'bradycardia', 'tachycardic', 'bradycardic', 'rates'),
          abbreviations=('hr', 'vr', 'nsr', 'sb', 'brady', 'tach', 'sinus brady', 'sinus tach', 'sr',
              # "Sinus 82, regular", "Sinus arrhythmia, mean 93": a bare number after the rhythm's name is its rate
              'sinus', 'sinus rhythm', 'sinus arrhythmia')),
    # the atrial (P-P) rate
    Terms('atrial_rate',
          names=('atrial rate', 'atrial rates', 'flutter rate', 'p - p rate', 'atrial activity', 'flutter waves')),
    # the PR interval
    Terms('pr',
          names=('av conduction', 'atrioventricular conduction', 'av delay'),
          abbreviations=('pr', 'pq', 'p - r', 'p r', 'pri'),
          lay=('upper to the lower chambers', 'upper to lower chambers', 'upper and lower chambers',
              'upper and the lower chambers', 'top to the bottom chambers', 'top and bottom chambers',
              'upper chambers to the lower chambers', 'upper chambers to the lower ones', 'atria to the ventricles',
              'atria to ventricles', 'atrium to the ventricles')),
    # the QRS complex: a duration in ms, an amplitude in mV, an axis in degrees
    Terms('wave', 'qrs',
          names=('complexes', 'complex', 'deflection', 'deflections', 'qrs amplitude', 'qrs voltage', 'voltage',
              'voltages', 'qrs amplitudes', 'peak - to - peak'),
          abbreviations=('qrs',),
          lay=('main beat', 'main spike', 'main spikes')),
    # the QRS duration
    Terms('qrs',
          names=('qrs duration', 'qrs width', 'narrow', 'wide', 'broad', 'widened', 'ventricular depolarization',
              'ventricular depolarisation', 'conduction'),
          abbreviations=('qrsd',),
          lay=('through the lower chambers', 'through the ventricles', 'across the lower chambers')),
    # the QT interval
    Terms('qt',
          names=('uncorrected',),
          abbreviations=('qt', 'q - t'),
          lay=('recovery time', 'electrical recovery time')),
    # the QTc (Bazett or Fridericia)
    Terms('qtc',
          names=('corrected qt', 'qt corrected', 'corrected', 'bazett', 'fridericia', 'qtc interval',
              'rate - corrected', 'rate - corrected qt', 'rate corrected qt', 'heart - rate - corrected qt',
              'corrected qt interval', 'qt corrected for rate', 'qt ( corrected )',
              # "540 ms after Bazett correction": the correction names the QTc ("after" alone is a cycle word)
              'after bazett', 'after bazett correction', 'after correction', 'after fridericia',
              'after fridericia correction', 'after correcting', 'after rate correction', 'after rate - correction'),
          abbreviations=('qtc', 'qtcb', 'qtcf', 'qt c'),
          lay=('corrected for rate', 'corrected for the rate', 'corrects to', 'correcting to', 'corrects',
              'corrected for heart rate', 'adjusted for heart rate', 'adjusted for rate',
              'adjusted for the heart rate', 'adjusted for the rate', 'corrected for the heart rate')),
    # a QTc by a formula the record does not give
    Terms('qtc_other',
          names=('hodges', 'framingham'),
          abbreviations=('qtch', 'qtcfr', 'qtcfram', 'qtchod')),
    # the RR interval (a cycle, a pause, a coupling interval)
    Terms('rr',
          names=('cycle length', 'cycle lengths', 'interbeat', 'inter - beat', 'beat - to - beat',
              'coupling interval', 'pause', 'pauses', 'coupling intervals', 'interval between', 'intervals between',
              'r - to - r', 'early', 'after', 'cycle', 'cycles', 'prematurely', 'after only'),
          abbreviations=('rr', 'rrs', 'r - r', 'pp', 'p - p'),
          lay=('time between beats', 'gap between beats', 'gaps between beats', 'time between the beats',
              'gaps between the beats')),
    # an axis (QRS unless a P or T wave is named next to it)
    Terms('axis',
          names=('axis', 'axes', 'vector'),
          lay=('electrical direction', 'electrical axis')),
    # the QRS-T angle
    Terms('angle',
          names=('qrs - t angle', 'qrs-t angle')),
    # the P wave
    Terms('wave', 'p',
          names=('p wave', 'p waves', 'p - wave', 'p - waves'),
          abbreviations=('ps',)),
    # the R wave
    Terms('wave', 'r',
          names=('r wave', 'r waves', 'r - wave', 'r - waves', "r'", 'r peak', 'r amplitude'),
          lay=('upward spike', 'upward spikes', 'upward wave', 'upward waves', 'spikes', 'tall spike', 'tall spikes',
              'upright spike')),
    # the S wave
    Terms('wave', 's',
          names=('s wave', 's waves', 's - wave', 's - waves'),
          lay=('downward wave', 'downward waves', 'downward spike', 'downward spikes')),
    # the Q wave
    Terms('wave', 'q',
          names=('q wave', 'q waves', 'q - wave', 'q - waves', 'qs complex', 'qs complexes', 'qs wave'),
          abbreviations=('qs',)),
    # the T wave
    Terms('wave', 't',
          names=('t wave', 't waves', 't - wave', 't - waves'),
          abbreviations=('twi', 'ts')),
    # the ST level (the segment named without 'ST' too: 'mild depression in II')
    Terms('st',
          names=('st segment', 'st segments', 'st - segment', 'st - segments', 'j point', 'j - point', 'st level',
              'st elevation', 'st depression', 'st deviation', 'depression', 'depressions', 'elevation', 'elevations',
              'depressed', 'elevated', 'mirror image', 'reciprocal'),
          abbreviations=('st', 'ste', 'std', 'stes'),
          lay=('recovery part of the beat', 'recovery phase', 'line just after the main spike')),
    # the R/S ratio
    Terms('rs_ratio',
          names=('r / s ratio', 'r : s ratio', 'r / s - ratio', 'r - to - s ratio', 'r / s ratios')),
    # the Sokolow-Lyon index
    Terms('sokolow',
          names=('sokolow', 'sokolow - lyon', 'sokolow - lyon voltage', 'sokolow voltage', 'sokolow - lyon index'),
          abbreviations=('sl', 'svl')),
    # the Cornell index
    Terms('cornell',
          names=('cornell', 'cornell voltage', 'cornell index')),
    # the Cornell product: the Cornell voltage times the QRS duration (mm·ms, mV·ms)
    Terms('cornell_product',
          names=('cornell product', 'cornell voltage product', 'cornell voltage - duration product',
                 'cornell duration product', 'cornell voltage × qrs duration product')),
    # a beat (its time or position)
    Terms('beat',
          names=('beat', 'beats', 'premature', 'ectopic'),
          abbreviations=('pvc', 'pac')),
    # the recording's duration
    Terms('duration',
          names=('recording', 'tracing', 'strip', 'record', 'ecg', 'electrocardiogram')),
    # the patient's age
    Terms('age',
          names=('old', 'aged', 'age', 'patient')),
    # 'duration' or 'width' after a wave names the wave's duration
    Terms('wavedur',
          names=('duration', 'width', 'durations')),
    # 'amplitude', 'height', 'depth' after a wave names its amplitude
    Terms('ampword',
          names=('amplitude', 'amplitudes', 'height', 'depth')),
)

# canonical unit -> how teachers write it
UNITS: dict[str, UnitTerms] = {
    'ms': UnitTerms(
        spellings=('ms', 'msec', 'msecs', 'millisecond', 'milliseconds')),
    's': UnitTerms(
        spellings=('s', 'sec', 'secs', 'second', 'seconds')),
    'bpm': UnitTerms(
        spellings=('bpm', 'b . p . m', 'beats per minute', 'beat per minute', 'beats / min', 'beats / minute',
            '/ min', 'per minute', 'beats a minute', 'min - 1', 'min ⁻ ¹', 'min − 1', 'min – 1', 'per min',
            '/ minute', 'beats per min', 'b / min'),
        lay=('times a minute', 'times per minute', 'times each minute', 'times a min', 'times per min', 'a minute',
            'beats each minute', 'beats every minute', 'times every minute', 'times in a minute', 'beats in a minute')),
    'mV': UnitTerms(
        spellings=('mv', 'millivolt', 'millivolts')),
    'uV': UnitTerms(
        spellings=('µv', 'μv', 'uv', 'microvolts')),
    'mm': UnitTerms(
        spellings=('mm', 'millimeter', 'millimeters', 'millimetre', 'millimetres')),
    'mm/s': UnitTerms(
        spellings=('mm / s', 'mm / sec', 'mm per second')),
    'mm/mV': UnitTerms(
        spellings=('mm / mv', 'mm per mv', 'mm / millivolt')),
    'deg': UnitTerms(
        spellings=('°', 'º', 'deg', 'degree', 'degrees')),
    'pct': UnitTerms(
        spellings=('%', 'percent')),
    'hz': UnitTerms(
        spellings=('hz',)),
    'years': UnitTerms(
        spellings=('year', 'years', 'yo', 'y / o')),
    'smallbox': UnitTerms(
        spellings=('small box', 'small boxes', 'small square', 'small squares')),
    'largebox': UnitTerms(
        spellings=('large box', 'large boxes', 'large square', 'large squares')),
}


def keyword_phrases() -> list[tuple[str, str, str | None]]:
    """(phrase, kind, wave) for every measurement phrase of the table."""
    return [(p, t.kind, t.wave) for t in MEASUREMENTS for p in t.phrases()]


def unit_spellings() -> list[tuple[tuple[str, ...], str]]:
    """(token sequence, canonical unit) for every unit spelling of the table."""
    return [(tuple(s.split()), unit) for unit, u in UNITS.items() for s in u.spellings + u.lay]
