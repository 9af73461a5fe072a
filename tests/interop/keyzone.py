"""The records `spoofguard keygen` prints (name IN TXT ( "..." "..." ),
over several lines) as dkimpy's dnsfunc: the differential tests' DNS."""
import re


def load_zone(path):
    text = open(path).read()
    keys = {}
    for name, strings in re.findall(r'(\S+)\s+IN\s+TXT\s+\((.*?)\)', text, re.S):
        keys[name.lower().rstrip(".").encode()] = "".join(re.findall(r'"([^"]*)"',
                                                                     strings)).encode()
    return lambda name, timeout=5: keys.get(
        (name if isinstance(name, bytes) else name.encode()).lower().rstrip(b"."))
