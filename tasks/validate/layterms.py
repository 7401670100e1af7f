"""Plain-language names of the measurements, as answers written for patients use them ("the signal passes
from the upper to the lower chambers in 130 ms", "92 ms for the main beat", "about 65 times a minute").

Each is a keyword like "PR" or "QRS" (tasks/validate/keywords.py) or a unit like "bpm"
(tasks/validate/quantities.py), so a number it names is checked against that measurement, never let through.
"""
from __future__ import annotations

# (lower-case phrase, kind, wave), in keywords.py's format
LAY_KEYWORDS: list[tuple[str, str, str | None]] = [
    # atrioventricular conduction: the PR interval
    ("upper to the lower chambers", "pr", None), ("upper to lower chambers", "pr", None),
    ("upper and lower chambers", "pr", None), ("upper and the lower chambers", "pr", None),
    ("top to the bottom chambers", "pr", None), ("top and bottom chambers", "pr", None),
    ("upper chambers to the lower chambers", "pr", None), ("upper chambers to the lower ones", "pr", None),
    ("atria to the ventricles", "pr", None), ("atria to ventricles", "pr", None),
    ("atrium to the ventricles", "pr", None),
    # ventricular depolarisation: the QRS complex (a duration in ms, an amplitude in mV)
    ("main beat", "wave", "qrs"), ("main spike", "wave", "qrs"), ("main spikes", "wave", "qrs"),
    ("through the lower chambers", "qrs", None), ("through the ventricles", "qrs", None),
    ("across the lower chambers", "qrs", None),
    # the axis
    ("electrical direction", "axis", None), ("electrical axis", "axis", None),
    # the cycle
    ("time between beats", "rr", None), ("gap between beats", "rr", None), ("gaps between beats", "rr", None),
    ("time between the beats", "rr", None), ("gaps between the beats", "rr", None),
    # the QTc
    ("corrected for rate", "qtc", None), ("corrected for the rate", "qtc", None),
    ("corrects to", "qtc", None), ("correcting to", "qtc", None), ("corrects", "qtc", None),
    ("corrected for heart rate", "qtc", None),
    ("adjusted for heart rate", "qtc", None), ("adjusted for rate", "qtc", None),
    ("adjusted for the heart rate", "qtc", None), ("adjusted for the rate", "qtc", None),
    ("recovery time", "qt", None), ("electrical recovery time", "qt", None), ("corrected for the heart rate", "qtc", None),
    # R and S in plain words
    ("upward spike", "wave", "r"), ("upward spikes", "wave", "r"), ("upward wave", "wave", "r"),
    ("upward waves", "wave", "r"), ("downward wave", "wave", "s"), ("downward waves", "wave", "s"),
    ("downward spike", "wave", "s"), ("downward spikes", "wave", "s"), ("spikes", "wave", "r"), ("tall spike", "wave", "r"), ("tall spikes", "wave", "r"),
    ("upright spike", "wave", "r"),
    # the ST segment in plain words
    ("recovery part of the beat", "st", None), ("recovery phase", "st", None),
    ("line just after the main spike", "st", None),
]

# (lower-case token sequence, canonical unit), in quantities.py's format
LAY_UNITS: list[tuple[tuple[str, ...], str]] = [
    (("times", "a", "minute"), "bpm"), (("times", "per", "minute"), "bpm"), (("times", "each", "minute"), "bpm"),
    (("times", "a", "min"), "bpm"), (("times", "per", "min"), "bpm"), (("a", "minute"), "bpm"),
    (("beats", "each", "minute"), "bpm"), (("beats", "every", "minute"), "bpm"), (("times", "every", "minute"), "bpm"),
    (("times", "in", "a", "minute"), "bpm"), (("beats", "in", "a", "minute"), "bpm"),
]
