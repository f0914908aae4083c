"""Every name the dialplan contract relies on, in one place (asterisk-conf/ is tested on it)."""

RESULT = "CONSENT_RESULT"
MODE = "CONSENT_MODE"
JURISDICTION = "CONSENT_JURISDICTION"
ID = "CONSENT_ID"
RECORDING = "CONSENT_RECORDING"
MIXMON_ID = "CONSENT_MIXMON_ID"  # set by MixMonitor's i() option; the gate stops it on failure
def recorder_file(mixmon_id):
    """The function whose value is the recorder's file while that recorder is attached
    (app_mixmonitor.c: only while its datastore exists); empty once it is gone."""
    return f"MIXMONITOR({mixmon_id},filename)"


PAUSE = "CONSENT_PAUSE"  # set by the consent-pause/consent-resume Gosubs' AGI route
ALL = (RESULT, MODE, JURISDICTION, ID, RECORDING, MIXMON_ID)

GRANTED, DECLINED, NO_ANSWER = "granted", "declined", "no-answer"
NOTIFIED, OPTED_OUT, HANGUP, ERROR = "notified", "opted-out", "hangup", "error"
WITHDRAWN = "withdrawn"  # set mid-call by the consent-withdraw Gosub's route, never by the gate
RESULTS = (GRANTED, DECLINED, NO_ANSWER, NOTIFIED, OPTED_OUT, HANGUP, ERROR)
RECORDS = (GRANTED, NOTIFIED)  # the only results that ever start MixMonitor

ROUTE = "consent"  # agi://host:port/consent
MID_CALL_ROUTES = ("pause", "resume", "withdraw")  # the Gosubs a recorded call may run
PAUSE_STATES = ("paused", "resumed", "failed")
ARGUMENTS = ("region", "direction", "number", "lang")
DIRECTIONS = ("inbound", "outbound")
