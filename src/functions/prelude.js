// edgegate's CloudFront Functions prelude: evaluated once per function runtime, before the
// function's code. It receives the native hooks and the runtime version, installs the globals
// the runtime has (console, frozen Date, require, and for 2.0 Buffer/atob/btoa), removes what it
// does not, and returns the hooks the engine calls.
(function (g, native, v2, edge) {
  "use strict";
  var digest = native.digest, codec = native.codec, log = native.log;
  delete g.__eg_native;

  // Date: every read of the current time gives the invocation's start time.
  var RealDate = Date, now = 0;
  function FrozenDate() {
    if (!new.target) return new RealDate(now).toString();
    var args = arguments.length === 0 ? [now] : Array.prototype.slice.call(arguments);
    return Reflect.construct(RealDate, args, new.target);
  }
  FrozenDate.prototype = RealDate.prototype;
  Object.defineProperty(RealDate.prototype, "constructor", { value: FrozenDate, writable: true, configurable: true });
  FrozenDate.now = function () { return now; };
  FrozenDate.parse = RealDate.parse;
  FrozenDate.UTC = RealDate.UTC;
  g.Date = FrozenDate;

  function show(v) {
    if (typeof v === "string") return v;
    try { var s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch (e) { return String(v); }
  }
  g.console = { log: function () {
    var parts = [];
    for (var i = 0; i < arguments.length; i++) parts.push(show(arguments[i]));
    log(parts.join(" "));
  } };

  // Bytes travel between here and the native hooks as "binary" strings (one char per byte).
  function utf8(s) { return codec("utf8enc", String(s)); }
  function hexdec(s) {
    var out = "";
    for (var i = 0; i + 1 < s.length; i += 2) {
      var b = parseInt(s.substr(i, 2), 16);
      if (isNaN(b)) break;
      out += String.fromCharCode(b);
    }
    return out;
  }
  function hexenc(s) {
    var out = "";
    for (var i = 0; i < s.length; i++) out += (s.charCodeAt(i) | 256).toString(16).substr(1);
    return out;
  }
  var ENCODINGS = ["utf8", "utf-8", "hex", "base64", "base64url", "latin1", "binary"];
  function decodeStr(s, enc) {
    switch (enc === undefined ? "utf8" : String(enc).toLowerCase()) {
      case "utf8": case "utf-8": return utf8(s);
      case "hex": return hexdec(s);
      case "base64": case "base64url": return codec("b64dec", s) || "";
      case "latin1": case "binary": return codec("latin1", s);
      default: throw new TypeError("Unknown encoding: " + enc);
    }
  }
  function encodeStr(bin, enc) {
    switch (enc === undefined ? "utf8" : String(enc).toLowerCase()) {
      case "utf8": case "utf-8": return codec("utf8dec", bin);
      case "hex": return hexenc(bin);
      case "base64": return codec("b64enc", bin);
      case "base64url": return codec("b64urlenc", bin);
      case "latin1": case "binary": return bin;
      default: throw new TypeError("Unknown encoding: " + enc);
    }
  }
  function toBin(u8) {
    var s = "";
    for (var i = 0; i < u8.length; i += 4096) s += String.fromCharCode.apply(null, u8.subarray(i, Math.min(i + 4096, u8.length)));
    return s;
  }

  class Buffer extends Uint8Array {
    static from(v, enc, len) {
      if (typeof v === "string") return fromBin(decodeStr(v, enc));
      if (v instanceof ArrayBuffer) return new Buffer(v, enc || 0, len === undefined ? v.byteLength - (enc || 0) : len);
      if (ArrayBuffer.isView(v) || Array.isArray(v)) {
        var b = new Buffer(v.length);
        for (var i = 0; i < v.length; i++) b[i] = v[i] & 255;
        return b;
      }
      if (v && v.type === "Buffer" && Array.isArray(v.data)) return Buffer.from(v.data);
      throw new TypeError("The first argument must be a string, Buffer, ArrayBuffer, Array, or array-like object");
    }
    static alloc(n, fill, enc) {
      var b = new Buffer(n);
      if (fill !== undefined) b.fill(fill, 0, n, enc);
      return b;
    }
    static allocUnsafe(n) { return new Buffer(n); }
    static isBuffer(b) { return b instanceof Buffer; }
    static isEncoding(e) { return ENCODINGS.indexOf(String(e).toLowerCase()) >= 0; }
    static byteLength(s, enc) { return typeof s === "string" ? decodeStr(s, enc).length : s.byteLength; }
    static compare(a, b) {
      var n = Math.min(a.length, b.length);
      for (var i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
    }
    static concat(list, total) {
      if (total === undefined) { total = 0; for (var i = 0; i < list.length; i++) total += list[i].length; }
      var out = new Buffer(total), at = 0;
      for (var j = 0; j < list.length && at < total; j++) {
        var part = list[j].subarray(0, total - at);
        out.set(part, at);
        at += part.length;
      }
      return out;
    }
    fill(v, start, end, enc) {
      if (typeof v === "string") {
        var bytes = decodeStr(v, enc);
        start = start || 0; end = end === undefined ? this.length : end;
        for (var i = start, k = 0; i < end && bytes.length; i++, k++) this[i] = bytes.charCodeAt(k % bytes.length);
        return this;
      }
      return Uint8Array.prototype.fill.call(this, v, start, end);
    }
    toString(enc, start, end) {
      return encodeStr(toBin(this.subarray(start || 0, end === undefined ? this.length : end)), enc);
    }
    equals(o) { return Buffer.compare(this, o) === 0; }
    compare(o) { return Buffer.compare(this, o); }
    includes(v, at, enc) { return this.indexOf(v, at, enc) !== -1; }
    indexOf(v, at, enc) {
      if (typeof v === "number") return Uint8Array.prototype.indexOf.call(this, v, at);
      var needle = typeof v === "string" ? decodeStr(v, enc) : toBin(v);
      return toBin(this).indexOf(needle, at || 0);
    }
    write(s, offset, length, enc) {
      var bytes = decodeStr(s, enc);
      offset = offset || 0;
      var n = Math.min(bytes.length, length === undefined ? this.length - offset : length, this.length - offset);
      for (var i = 0; i < n; i++) this[offset + i] = bytes.charCodeAt(i);
      return n;
    }
    copy(target, tStart, sStart, sEnd) {
      var src = this.subarray(sStart || 0, sEnd === undefined ? this.length : sEnd);
      tStart = tStart || 0;
      var n = Math.min(src.length, target.length - tStart);
      target.set(src.subarray(0, n), tStart);
      return n;
    }
    readUInt8(o) { return this[o || 0]; }
    readUInt16BE(o) { o = o || 0; return (this[o] << 8) | this[o + 1]; }
    readUInt32BE(o) { o = o || 0; return ((this[o] << 24) >>> 0) + ((this[o + 1] << 16) | (this[o + 2] << 8) | this[o + 3]); }
    toJSON() { return { type: "Buffer", data: Array.prototype.slice.call(this) }; }
  }
  function fromBin(s) {
    var b = new Buffer(s.length);
    for (var i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 255;
    return b;
  }
  function bytesOf(data, enc) {
    if (typeof data === "string") return decodeStr(data, enc);
    if (data instanceof ArrayBuffer) return toBin(new Uint8Array(data));
    if (ArrayBuffer.isView(data)) return toBin(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    throw new TypeError("The \"data\" argument must be of type string or an instance of Buffer, TypedArray, or DataView");
  }

  var ALGS = ["md5", "sha1", "sha256"];
  function Hash(alg, key) {
    alg = String(alg).toLowerCase();
    if (ALGS.indexOf(alg) < 0) throw new Error("Digest method not supported");
    this._a = alg; this._k = key; this._d = [];
  }
  Hash.prototype.update = function (data, enc) { this._d.push(bytesOf(data, enc)); return this; };
  Hash.prototype.digest = function (enc) {
    var r = digest(this._a, this._k, this._d.join(""), enc === undefined ? "" : String(enc));
    if (r === null) throw new Error("Unknown digest encoding: " + enc);
    return enc === undefined && v2 ? fromBin(r) : r;
  };
  var crypto = {
    createHash: function (alg) { return new Hash(alg, null); },
    createHmac: function (alg, key) {
      if (key === undefined || key === null) throw new TypeError("The \"key\" argument must be provided");
      return new Hash(alg, bytesOf(key));
    }
  };

  var qs = {
    escape: function (s) { return encodeURIComponent(s); },
    unescape: function (s) { return codec("pctdec", String(s)); },
    parse: function (str, sep, eq, opt) {
      sep = sep || "&"; eq = eq || "=";
      var dec = (opt && opt.decodeURIComponent) || qs.unescape;
      var max = opt && typeof opt.maxKeys === "number" ? opt.maxKeys : 1000;
      var obj = {};
      if (typeof str !== "string" || str.length === 0) return obj;
      var parts = str.split(sep);
      if (max > 0 && parts.length > max) parts = parts.slice(0, max);
      for (var i = 0; i < parts.length; i++) {
        var p = parts[i], at = p.indexOf(eq), k, v;
        if (at >= 0) { k = p.substr(0, at); v = p.substr(at + eq.length); } else { k = p; v = ""; }
        k = dec(k.replace(/\+/g, " ")); v = dec(v.replace(/\+/g, " "));
        if (!Object.prototype.hasOwnProperty.call(obj, k)) obj[k] = v;
        else if (Array.isArray(obj[k])) obj[k].push(v);
        else obj[k] = [obj[k], v];
      }
      return obj;
    },
    stringify: function (obj, sep, eq, opt) {
      sep = sep || "&"; eq = eq || "=";
      var enc = (opt && opt.encodeURIComponent) || qs.escape;
      function prim(v) {
        if (typeof v === "string") return v;
        if (typeof v === "number" && isFinite(v)) return String(v);
        if (typeof v === "boolean") return v ? "true" : "false";
        return "";
      }
      if (obj === null || typeof obj !== "object") return "";
      var out = [];
      Object.keys(obj).forEach(function (k) {
        var v = obj[k], ek = enc(prim(k)) + eq;
        if (Array.isArray(v)) v.forEach(function (x) { out.push(ek + enc(prim(x))); });
        else out.push(ek + enc(prim(v)));
      });
      return out.join(sep);
    }
  };
  qs.decode = qs.parse;
  qs.encode = qs.stringify;

  // The origin-selection helpers: checked and recorded natively (origin_select.rs); a refused
  // argument throws here.
  var originNative = native.origin;
  function originHelper(name) {
    return function () {
      var refused = originNative(name, JSON.stringify(Array.prototype.slice.call(arguments)));
      if (typeof refused === "string") throw new TypeError(refused);
    };
  }
  var cf = {
    edgeLocation: edge,
    kvs: function () { throw new Error("The function has no key value store associated"); },
    updateRequestOrigin: originHelper("updateRequestOrigin"),
    selectRequestOriginById: originHelper("selectRequestOriginById"),
    overrideRequestOrigin: originHelper("overrideRequestOrigin"),
    createRequestOriginGroup: originHelper("createRequestOriginGroup")
  };

  var modules = { crypto: crypto, querystring: qs };
  if (v2) {
    modules.buffer = { Buffer: Buffer };
    modules.cloudfront = cf;
    g.Buffer = Buffer;
    g.btoa = function (s) {
      s = String(s);
      for (var i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) throw new Error("Invalid character");
      return codec("b64enc", s);
    };
    g.atob = function (s) {
      var r = codec("b64dec", String(s).replace(/[\t\n\f\r ]/g, ""));
      if (r === null) throw new Error("The string to be decoded is not correctly encoded.");
      return r;
    };
  } else {
    // 1.0: the njs byte-string helpers, and none of what 2.0 added.
    String.bytesFrom = function (v, enc) {
      if (Array.isArray(v)) return v.map(function (b) { return String.fromCharCode(b & 255); }).join("");
      return decodeStr(String(v), enc === undefined ? "latin1" : enc);
    };
    String.prototype.toBytes = function () { return codec("latin1", String(this)); };
    String.prototype.toUTF8 = function () { return utf8(this); };
    String.prototype.fromUTF8 = function () { return codec("utf8dec", String(this)); };
    String.prototype.fromBytes = function () { return String(this); };
    delete String.prototype.replaceAll;
    delete Promise.all; delete Promise.allSettled; delete Promise.any; delete Promise.race;
    delete g.DataView; delete Symbol.for; delete Symbol.keyFor;
  }
  g.require = function (name) {
    if (Object.prototype.hasOwnProperty.call(modules, name)) return modules[name];
    throw new Error("Cannot find module '" + name + "'");
  };

  // The request's methods: on its prototype, so they are neither enumerated nor serialised.
  // rawQueryString() (2.0) gives the query string as received; for a TestFunction event
  // (raw === null) the event's querystring joined back.
  var raw, requestProto = {};
  function joined(q) {
    if (typeof q === "string") return q;
    var out = [];
    if (q && typeof q === "object") Object.keys(q).forEach(function (k) {
      var f = q[k] || {}, all = Array.isArray(f.multiValue) && f.multiValue.length ? f.multiValue : [f];
      all.forEach(function (m) { out.push(k + "=" + (m && m.value !== undefined ? m.value : "")); });
    });
    return out.length ? out.join("&") : undefined;
  }
  if (v2) Object.defineProperty(requestProto, "rawQueryString", {
    value: function rawQueryString() { return raw === null ? joined(this.querystring) : raw; },
    writable: true, configurable: true
  });

  function noCodegen() { throw new EvalError("Code generation from strings is not allowed"); }
  return {
    begin: function (t, q) { now = t; raw = q; },
    // The edge's event: begins the invocation and builds the skeleton with object literals
    // (members defined as JSON.parse defines them), around the groups built natively.
    event: function (t, q, type, domain, id, rid, ip, method, uri, qs, headers, cookies) {
      now = t; raw = q;
      return {
        version: "1.0",
        context: { distributionDomainName: domain, distributionId: id, eventType: type, requestId: rid },
        viewer: { ip: ip },
        request: { __proto__: requestProto, method: method, uri: uri, querystring: qs, headers: headers, cookies: cookies }
      };
    },
    requestProto: requestProto,
    adopt: function (event) {
      if (event && typeof event === "object" && event.request && typeof event.request === "object" &&
          Object.getPrototypeOf(event.request) === Object.prototype) {
        Object.setPrototypeOf(event.request, requestProto);
      }
      return event;
    },
    lockdown: function () {
      g.eval = noCodegen;
      [function () {}, async function () {}, function* () {}, async function* () {}].forEach(function (f) {
        Object.defineProperty(Object.getPrototypeOf(f), "constructor", { value: noCodegen });
      });
      g.Function = noCodegen;
    }
  };
})
