// A port of the Snowball English (Porter2) stemmer as generated from english.sbl by Snowball 3.1.1
// (https://snowballstem.org/), BSD-3-Clause, copyright (c) Dr Martin Porter and Richard Boulton.
//
// The server stems with Python's snowballstemmer 3.1.1 and the browser stems query tokens with
// this file, so the two must agree on every word or a query finds different documents in each.
// That is why this is a line-by-line port of the generated code (cursor/among runtime included)
// rather than a fresh reading of the algorithm: Snowball 3.x differs from the published Porter2
// description in small ways (e.g. the "past" and "-ingly" rules), and only the generated code is
// the reference. tests/test_browser_search_core.py checks the agreement on a large vocabulary.
//
// Rule and variable names follow english_stemmer.py so the two can be read side by side; the
// generated code's try/raise labels become labelled blocks with `break label`.

// The word is held as an array of code points because Python indexes strings by code point;
// with UTF-16 indexing a non-BMP character would shift the length tests (e.g. the 3-char minimum).
function codePoints(s) {
  const out = [];
  for (const ch of s) out.push(ch.codePointAt(0));
  return out;
}

function among(s, substringI, result) {
  return { s: codePoints(s), substringI, result };
}

const grouping = (chars) => new Set(codePoints(chars));

const G_AEO = grouping("aeo");
const G_V = grouping("aeiouy");
const G_V_WXY = grouping("Yaeiouwxy");
const G_VALID_LI = grouping("cdeghkmnrt");

const C_QUOTE = 0x27;
const C_Y = 0x59; // marks a consonant "y" between prelude and postlude
const C_y = 0x79;
const C_l = 0x6c;
const C_s = 0x73;
const C_t = 0x74;

const A_0 = [
  among("arsen", -1, -1),
  among("commun", -1, -1),
  among("emerg", -1, -1),
  among("gener", -1, -1),
  among("inter", -1, -1),
  among("later", -1, -1),
  among("organ", -1, -1),
  among("past", -1, -1),
  among("univers", -1, -1),
];
const A_1 = [
  among("'", -1, 1),
  among("'s'", 0, 1),
  among("'s", -1, 1),
];
const A_2 = [
  among("ied", -1, 2),
  among("s", -1, 3),
  among("ies", 1, 2),
  among("sses", 1, 1),
  among("ss", 1, -1),
  among("us", 1, -1),
];
const A_3 = [
  among("succ", -1, 1),
  among("proc", -1, 1),
  among("exc", -1, 1),
];
const A_4 = [
  among("even", -1, 2),
  among("cann", -1, 2),
  among("inn", -1, 2),
  among("earr", -1, 2),
  among("herr", -1, 2),
  among("out", -1, 2),
  among("y", -1, 1),
];
const A_5 = [
  among("", -1, -1),
  among("ed", 0, 2),
  among("eed", 1, 1),
  among("ing", 0, 3),
  among("edly", 0, 2),
  among("eedly", 4, 1),
  among("ingly", 0, 2),
];
const A_6 = [
  among("", -1, 3),
  among("bb", 0, 2),
  among("dd", 0, 2),
  among("ff", 0, 2),
  among("gg", 0, 2),
  among("bl", 0, 1),
  among("mm", 0, 2),
  among("nn", 0, 2),
  among("pp", 0, 2),
  among("rr", 0, 2),
  among("at", 0, 1),
  among("tt", 0, 2),
  among("iz", 0, 1),
];
const A_7 = [
  among("anci", -1, 3),
  among("enci", -1, 2),
  among("ogi", -1, 14),
  among("li", -1, 16),
  among("bli", 3, 12),
  among("abli", 4, 4),
  among("alli", 3, 8),
  among("fulli", 3, 9),
  among("lessli", 3, 15),
  among("ousli", 3, 10),
  among("entli", 3, 5),
  among("aliti", -1, 8),
  among("biliti", -1, 12),
  among("iviti", -1, 11),
  among("tional", -1, 1),
  among("ational", 14, 7),
  among("alism", -1, 8),
  among("ation", -1, 7),
  among("ization", 17, 6),
  among("izer", -1, 6),
  among("ator", -1, 7),
  among("iveness", -1, 11),
  among("fulness", -1, 9),
  among("ousness", -1, 10),
  among("ogist", -1, 13),
];
const A_8 = [
  among("icate", -1, 4),
  among("ative", -1, 6),
  among("alize", -1, 3),
  among("iciti", -1, 4),
  among("ical", -1, 4),
  among("tional", -1, 1),
  among("ational", 5, 2),
  among("ful", -1, 5),
  among("ness", -1, 5),
];
const A_9 = [
  among("ic", -1, 1),
  among("ance", -1, 1),
  among("ence", -1, 1),
  among("able", -1, 1),
  among("ible", -1, 1),
  among("ate", -1, 1),
  among("ive", -1, 1),
  among("ize", -1, 1),
  among("iti", -1, 1),
  among("al", -1, 1),
  among("ism", -1, 1),
  among("ion", -1, 2),
  among("er", -1, 1),
  among("ous", -1, 1),
  among("ant", -1, 1),
  among("ent", -1, 1),
  among("ment", 15, 1),
  among("ement", 16, 1),
];
const A_10 = [
  among("e", -1, 1),
  among("l", -1, 2),
];
const A_11 = [
  among("andes", -1, -1),
  among("atlas", -1, -1),
  among("bias", -1, -1),
  among("cosmos", -1, -1),
  among("early", -1, 6),
  among("gently", -1, 4),
  among("howe", -1, -1),
  among("idly", -1, 3),
  among("news", -1, -1),
  among("only", -1, 7),
  among("singly", -1, 8),
  among("skies", -1, 2),
  among("skis", -1, 1),
  among("sky", -1, -1),
  among("ugly", -1, 5),
];
const AS_11 = ["ski", "sky", "idl", "gentl", "ugli", "earli", "onli", "singl"];

// Indexed by among result; the gaps are results handled by a condition, not a plain replacement.
const STEP_2_TO = [null, "tion", "ence", "ance", "able", "ent", "ize", "ate", "al", "ful", "ous",
  "ive", "ble", "og", null, "less"];
const STEP_3_TO = [null, "tion", "ate", "al", "ic"];

class EnglishStemmer {
  setCurrent(word) {
    this.current = codePoints(word);
    this.cursor = 0;
    this.limit = this.current.length;
    this.limitBackward = 0;
    this.bra = 0;
    this.ket = this.limit;
    this.yFound = false;
    this.p1 = 0;
    this.p2 = 0;
  }

  getCurrent() {
    let out = "";
    for (const c of this.current) out += String.fromCodePoint(c);
    return out;
  }

  // ---- runtime (basestemmer.py) ----

  inGrouping(s) {
    if (this.cursor >= this.limit || !s.has(this.current[this.cursor])) return false;
    this.cursor += 1;
    return true;
  }

  goInGrouping(s) {
    while (this.cursor < this.limit) {
      if (!s.has(this.current[this.cursor])) return true;
      this.cursor += 1;
    }
    return false;
  }

  goOutGrouping(s) {
    while (this.cursor < this.limit) {
      if (s.has(this.current[this.cursor])) return true;
      this.cursor += 1;
    }
    return false;
  }

  inGroupingB(s) {
    if (this.cursor <= this.limitBackward || !s.has(this.current[this.cursor - 1])) return false;
    this.cursor -= 1;
    return true;
  }

  outGroupingB(s) {
    if (this.cursor <= this.limitBackward || s.has(this.current[this.cursor - 1])) return false;
    this.cursor -= 1;
    return true;
  }

  goOutGroupingB(s) {
    while (this.cursor > this.limitBackward) {
      if (s.has(this.current[this.cursor - 1])) return true;
      this.cursor -= 1;
    }
    return false;
  }

  // The generated code inlines single-character tests; these move the cursor only on a match.
  eqChar(c) {
    if (this.cursor === this.limit || this.current[this.cursor] !== c) return false;
    this.cursor += 1;
    return true;
  }

  eqCharB(c) {
    if (this.cursor <= this.limitBackward || this.current[this.cursor - 1] !== c) return false;
    this.cursor -= 1;
    return true;
  }

  eqSB(str) {
    const s = codePoints(str);
    if (this.cursor - this.limitBackward < s.length) return false;
    const start = this.cursor - s.length;
    for (let i = 0; i < s.length; i++) {
      if (this.current[start + i] !== s[i]) return false;
    }
    this.cursor = start;
    return true;
  }

  // Binary search over the sorted among table exactly as basestemmer.find_among does; the
  // tie-breaking (which entry wins, where the cursor lands) is part of the behaviour to match.
  findAmong(v) {
    let i = 0;
    let j = v.length;
    const c = this.cursor;
    const l = this.limit;
    let commonI = 0;
    let commonJ = 0;
    let firstKeyInspected = false;
    for (;;) {
      const k = i + ((j - i) >> 1);
      let diff = 0;
      let common = Math.min(commonI, commonJ);
      const w = v[k];
      for (let i2 = common; i2 < w.s.length; i2++) {
        if (c + common === l) {
          diff = -1;
          break;
        }
        diff = this.current[c + common] - w.s[i2];
        if (diff !== 0) break;
        common += 1;
      }
      if (diff < 0) {
        j = k;
        commonJ = common;
      } else {
        i = k;
        commonI = common;
      }
      if (j - i <= 1) {
        if (i > 0) break;
        if (j === i) break;
        if (firstKeyInspected) break;
        firstKeyInspected = true;
      }
    }
    for (;;) {
      const w = v[i];
      if (commonI >= w.s.length) {
        this.cursor = c + w.s.length;
        return w.result;
      }
      i = w.substringI;
      if (i < 0) return 0;
    }
  }

  findAmongB(v) {
    let i = 0;
    let j = v.length;
    const c = this.cursor;
    const lb = this.limitBackward;
    let commonI = 0;
    let commonJ = 0;
    let firstKeyInspected = false;
    for (;;) {
      const k = i + ((j - i) >> 1);
      let diff = 0;
      let common = Math.min(commonI, commonJ);
      const w = v[k];
      for (let i2 = w.s.length - 1 - common; i2 >= 0; i2--) {
        if (c - common === lb) {
          diff = -1;
          break;
        }
        diff = this.current[c - 1 - common] - w.s[i2];
        if (diff !== 0) break;
        common += 1;
      }
      if (diff < 0) {
        j = k;
        commonJ = common;
      } else {
        i = k;
        commonI = common;
      }
      if (j - i <= 1) {
        if (i > 0) break;
        if (j === i) break;
        if (firstKeyInspected) break;
        firstKeyInspected = true;
      }
    }
    for (;;) {
      const w = v[i];
      if (commonI >= w.s.length) {
        this.cursor = c - w.s.length;
        return w.result;
      }
      i = w.substringI;
      if (i < 0) return 0;
    }
  }

  // replace_s: the cursor adjustment rules matter because later steps continue from it.
  sliceFrom(str) {
    const s = codePoints(str);
    const cBra = this.bra;
    const cKet = this.ket;
    const adjustment = s.length - (cKet - cBra);
    this.current.splice(cBra, cKet - cBra, ...s);
    this.limit += adjustment;
    if (this.cursor >= cKet) this.cursor += adjustment;
    else if (this.cursor > cBra) this.cursor = cBra;
    this.ket = cBra + s.length;
  }

  sliceDel() {
    this.sliceFrom("");
  }

  // ---- rules (english_stemmer.py) ----

  rPrelude() {
    this.yFound = false;
    const v1 = this.cursor;
    lab0: {
      this.bra = this.cursor;
      if (!this.eqChar(C_QUOTE)) break lab0;
      this.ket = this.cursor;
      this.sliceDel();
    }
    this.cursor = v1;
    const v2 = this.cursor;
    lab0: {
      this.bra = this.cursor;
      if (!this.eqChar(C_y)) break lab0;
      this.ket = this.cursor;
      this.sliceFrom("Y");
      this.yFound = true;
    }
    this.cursor = v2;
    const v3 = this.cursor;
    for (;;) {
      const v4 = this.cursor;
      lab1: {
        for (;;) {
          const v5 = this.cursor;
          lab2: {
            if (!this.inGrouping(G_V)) break lab2;
            this.bra = this.cursor;
            if (!this.eqChar(C_y)) break lab2;
            this.ket = this.cursor;
            this.cursor = v5;
            break;
          }
          this.cursor = v5;
          if (this.cursor >= this.limit) break lab1;
          this.cursor += 1;
        }
        this.sliceFrom("Y");
        this.yFound = true;
        continue;
      }
      this.cursor = v4;
      break;
    }
    this.cursor = v3;
    return true;
  }

  rMarkRegions() {
    this.p1 = this.limit;
    this.p2 = this.limit;
    const v1 = this.cursor;
    lab0: {
      const v2 = this.cursor;
      // A listed prefix (e.g. "gener") fixes R1 where it ends instead of after the first syllable.
      if (this.findAmong(A_0) === 0) {
        this.cursor = v2;
        if (!this.goOutGrouping(G_V)) break lab0;
        this.cursor += 1;
        if (!this.goInGrouping(G_V)) break lab0;
        this.cursor += 1;
      }
      this.p1 = this.cursor;
      if (!this.goOutGrouping(G_V)) break lab0;
      this.cursor += 1;
      if (!this.goInGrouping(G_V)) break lab0;
      this.cursor += 1;
      this.p2 = this.cursor;
    }
    this.cursor = v1;
    return true;
  }

  rShortv() {
    const v1 = this.limit - this.cursor;
    lab0: {
      if (!this.outGroupingB(G_V_WXY)) break lab0;
      if (!this.inGroupingB(G_V)) break lab0;
      if (!this.outGroupingB(G_V)) break lab0;
      return true;
    }
    this.cursor = this.limit - v1;
    lab0: {
      if (!this.outGroupingB(G_V)) break lab0;
      if (!this.inGroupingB(G_V)) break lab0;
      if (this.cursor > this.limitBackward) break lab0;
      return true;
    }
    this.cursor = this.limit - v1;
    return this.eqSB("past");
  }

  rR1() {
    return this.p1 <= this.cursor;
  }

  rR2() {
    return this.p2 <= this.cursor;
  }

  rStep1a() {
    const v1 = this.limit - this.cursor;
    this.ket = this.cursor;
    if (this.findAmongB(A_1) === 0) {
      this.cursor = this.limit - v1;
    } else {
      this.bra = this.cursor;
      this.sliceDel();
    }
    this.ket = this.cursor;
    const amongVar = this.findAmongB(A_2);
    if (amongVar === 0) return false;
    this.bra = this.cursor;
    if (amongVar === 1) {
      this.sliceFrom("ss");
    } else if (amongVar === 2) {
      const v2 = this.limit - this.cursor;
      if (this.cursor - 2 >= this.limitBackward) {
        this.cursor -= 2;
        this.sliceFrom("i");
      } else {
        this.cursor = this.limit - v2;
        this.sliceFrom("ie");
      }
    } else if (amongVar === 3) {
      if (this.cursor <= this.limitBackward) return false;
      this.cursor -= 1;
      if (!this.goOutGroupingB(G_V)) return false;
      this.cursor -= 1;
      this.sliceDel();
    }
    return true;
  }

  rStep1b() {
    this.ket = this.cursor;
    let amongVar = this.findAmongB(A_5);
    this.bra = this.cursor;
    const v1 = this.limit - this.cursor;
    lab0: {
      if (amongVar === 1) {
        const v2 = this.limit - this.cursor;
        lab1: {
          if (!this.rR1()) break lab1;
          const v3 = this.limit - this.cursor;
          lab2: {
            if (this.findAmongB(A_3) === 0) break lab2;
            if (this.cursor > this.limitBackward) break lab2;
            break lab1;
          }
          this.cursor = this.limit - v3;
          this.sliceFrom("ee");
        }
        this.cursor = this.limit - v2;
      } else if (amongVar === 2) {
        break lab0;
      } else if (amongVar === 3) {
        amongVar = this.findAmongB(A_4);
        if (amongVar === 0) break lab0;
        if (amongVar === 1) {
          const v4 = this.limit - this.cursor;
          if (!this.outGroupingB(G_V)) break lab0;
          if (this.cursor > this.limitBackward) break lab0;
          this.cursor = this.limit - v4;
          this.bra = this.cursor;
          this.sliceFrom("ie");
        } else if (this.cursor > this.limitBackward) {
          break lab0;
        }
      }
      return true;
    }
    this.cursor = this.limit - v1;
    const v5 = this.limit - this.cursor;
    if (!this.goOutGroupingB(G_V)) return false;
    this.cursor -= 1;
    this.cursor = this.limit - v5;
    this.sliceDel();
    this.ket = this.cursor;
    this.bra = this.cursor;
    const v6 = this.limit - this.cursor;
    amongVar = this.findAmongB(A_6);
    if (amongVar === 1) {
      this.sliceFrom("e");
      return false;
    } else if (amongVar === 2) {
      const v7 = this.limit - this.cursor;
      if (this.inGroupingB(G_AEO) && this.cursor <= this.limitBackward) return false;
      this.cursor = this.limit - v7;
    } else {
      if (this.cursor !== this.p1) return false;
      const v8 = this.limit - this.cursor;
      if (!this.rShortv()) return false;
      this.cursor = this.limit - v8;
      this.sliceFrom("e");
      return false;
    }
    this.cursor = this.limit - v6;
    this.ket = this.cursor;
    if (this.cursor <= this.limitBackward) return false;
    this.cursor -= 1;
    this.bra = this.cursor;
    this.sliceDel();
    return true;
  }

  rStep1c() {
    this.ket = this.cursor;
    if (!this.eqCharB(C_y) && !this.eqCharB(C_Y)) return false;
    this.bra = this.cursor;
    if (!this.outGroupingB(G_V)) return false;
    if (this.cursor <= this.limitBackward) return false;
    this.sliceFrom("i");
    return true;
  }

  rStep2() {
    this.ket = this.cursor;
    const amongVar = this.findAmongB(A_7);
    if (amongVar === 0) return false;
    this.bra = this.cursor;
    if (!this.rR1()) return false;
    if (amongVar === 14) {
      if (!this.eqCharB(C_l)) return false;
      this.sliceFrom("og");
    } else if (amongVar === 16) {
      if (!this.inGroupingB(G_VALID_LI)) return false;
      this.sliceDel();
    } else {
      this.sliceFrom(STEP_2_TO[amongVar]);
    }
    return true;
  }

  rStep3() {
    this.ket = this.cursor;
    const amongVar = this.findAmongB(A_8);
    if (amongVar === 0) return false;
    this.bra = this.cursor;
    if (!this.rR1()) return false;
    if (amongVar === 5) {
      this.sliceDel();
    } else if (amongVar === 6) {
      if (!this.rR2()) return false;
      this.sliceDel();
    } else {
      this.sliceFrom(STEP_3_TO[amongVar]);
    }
    return true;
  }

  rStep4() {
    this.ket = this.cursor;
    const amongVar = this.findAmongB(A_9);
    if (amongVar === 0) return false;
    this.bra = this.cursor;
    if (!this.rR2()) return false;
    if (amongVar !== 1) {
      if (!this.eqCharB(C_s) && !this.eqCharB(C_t)) return false;
    }
    this.sliceDel();
    return true;
  }

  rStep5() {
    this.ket = this.cursor;
    const amongVar = this.findAmongB(A_10);
    if (amongVar === 0) return false;
    this.bra = this.cursor;
    if (amongVar === 1) {
      if (!this.rR2()) {
        if (!this.rR1()) return false;
        const v1 = this.limit - this.cursor;
        if (this.rShortv()) return false;
        this.cursor = this.limit - v1;
      }
      this.sliceDel();
    } else {
      if (!this.rR2()) return false;
      if (!this.eqCharB(C_l)) return false;
      this.sliceDel();
    }
    return true;
  }

  rException1() {
    this.bra = this.cursor;
    const amongVar = this.findAmong(A_11);
    if (amongVar === 0) return false;
    this.ket = this.cursor;
    if (this.cursor < this.limit) return false;
    if (amongVar > 0) this.sliceFrom(AS_11[amongVar - 1]);
    return true;
  }

  rPostlude() {
    if (!this.yFound) return false;
    for (;;) {
      const v1 = this.cursor;
      lab0: {
        for (;;) {
          const v2 = this.cursor;
          lab1: {
            this.bra = this.cursor;
            if (!this.eqChar(C_Y)) break lab1;
            this.ket = this.cursor;
            this.cursor = v2;
            break;
          }
          this.cursor = v2;
          if (this.cursor >= this.limit) break lab0;
          this.cursor += 1;
        }
        this.sliceFrom("y");
        continue;
      }
      this.cursor = v1;
      break;
    }
    return true;
  }

  stem() {
    const v1 = this.cursor;
    if (this.rException1()) return;
    this.cursor = v1;
    // Words shorter than three characters are left as they are.
    if (this.cursor + 3 > this.limit) return;
    this.rPrelude();
    this.rMarkRegions();
    this.limitBackward = this.cursor;
    this.cursor = this.limit;
    // Each step runs from the end of the word whether or not the one before it matched.
    const steps = [this.rStep1a, this.rStep1b, this.rStep1c, this.rStep2, this.rStep3,
      this.rStep4, this.rStep5];
    for (const step of steps) {
      const v = this.limit - this.cursor;
      step.call(this);
      this.cursor = this.limit - v;
    }
    this.cursor = this.limitBackward;
    const v9 = this.cursor;
    this.rPostlude();
    this.cursor = v9;
  }
}

// stem() is synchronous and resets all state on entry, so one instance can serve every call.
const stemmer = new EnglishStemmer();

export function stem(word) {
  stemmer.setCurrent(String(word));
  stemmer.stem();
  return stemmer.getCurrent();
}
