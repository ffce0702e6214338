"""docregion.py - put a generated table into a design document.

A document keeps what a make target generates between two marker lines,
"<!-- NAME:begin -->" and "<!-- NAME:end -->", and its own text around
them.  replace() puts new text between the markers and leaves the rest as
it is; the file is written beside the old one and renamed over it.
"""

import os


def replace(path, name, text):
    """Put @text between the @name markers of @path.

    Raises ValueError naming the file when it lacks one begin line and one
    end line after it; OSError when it cannot be read or written."""
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    with open(path) as f:
        doc = f.read()
    b, e = doc.find(begin), doc.find(end)
    if b < 0 or e < b or doc.count(begin) != 1 or doc.count(end) != 1:
        raise ValueError("%s needs one %s line and one %s line after it"
                         % (path, begin, end))
    if not text.endswith("\n"):
        text += "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc[:b + len(begin)] + "\n" + text + doc[e:])
    os.replace(tmp, path)
