/* prelude.js: ServiceNow's server-side scripting API (GlideRecord, gs, GlideDateTime,
 * sn_ws.RESTMessageV2, GlideCertificateEncryption, sn_ws_err, ...) for snowsim's Duktape
 * engine, built on the __sn_* natives of src/sim/script.c. Runs before every script. */
(function (global) {
  'use strict';
  var env = JSON.parse(__sn_env());

  function str(v) { return v === undefined || v === null ? '' : String(v); }

  function fmt(msg, args) {
    var s = str(msg);
    for (var i = 0; i < args.length; i++) s = s.split('{' + i + '}').join(str(args[i]));
    return s;
  }

  /* ---- GlideElement ---- */
  function GlideElement(gr, name, type) { this._gr = gr; this._name = name; this._type = type; }
  GlideElement.prototype.toString = function () { return str(this._gr._v[this._name]); };
  GlideElement.prototype.valueOf = function () { return this.toString(); };
  GlideElement.prototype.getValue = function () { return this._gr.getValue(this._name); };
  GlideElement.prototype.setValue = function (v) { this._gr.setValue(this._name, v); };
  GlideElement.prototype.getDisplayValue = function () { return this._gr.getDisplayValue(this._name); };
  GlideElement.prototype.nil = function () { return this.toString() === ''; };
  GlideElement.prototype.getName = function () { return this._name; };
  GlideElement.prototype.getTableName = function () { return this._gr._table; };
  GlideElement.prototype.changes = function () {
    var p = this._gr._prev;
    return p ? str(p[this._name]) !== this.toString() : this._gr._isNew && this.toString() !== '';
  };
  GlideElement.prototype.changesTo = function (v) { return this.changes() && this.toString() === str(v); };
  GlideElement.prototype.changesFrom = function (v) {
    var p = this._gr._prev;
    return this.changes() && p !== null && str(p[this._name]) === str(v);
  };
  GlideElement.prototype.getRefRecord = function () {
    var gr = new GlideRecord(this._type.ref || '');
    if (this.toString() !== '') gr.get(this.toString());
    return gr;
  };
  GlideElement.prototype.startsWith = function (s) { return this.toString().indexOf(str(s)) === 0; };
  GlideElement.prototype.indexOf = function (s) { return this.toString().indexOf(str(s)); };

  /* ---- GlideRecord ---- */
  function GlideRecord(table) {
    this._table = str(table);
    var meta = __sn_fields(this._table);
    this._meta = meta === null ? null : JSON.parse(meta);
    this._q = [];
    this._orders = [];
    this._limit = 0;
    this._rows = null;
    this._i = -1;
    this._v = {};
    this._prev = null;
    this._isNew = false;
    this._abort = false;
    this._op = '';
    var self = this;
    if (this._meta) {
      this._meta.forEach(function (f) {
        Object.defineProperty(self, f.name, {
          enumerable: true,
          configurable: true,
          get: function () { return new GlideElement(self, f.name, f); },
          set: function (v) { self.setValue(f.name, v); }
        });
      });
    }
  }
  GlideRecord.prototype._type = function (name) {
    for (var i = 0; this._meta && i < this._meta.length; i++)
      if (this._meta[i].name === name) return this._meta[i];
    return null;
  };
  GlideRecord.prototype.isValid = function () { return this._meta !== null; };
  GlideRecord.prototype.getTableName = function () { return this._table; };
  GlideRecord.prototype.getRecordClassName = function () { return str(this._v.sys_class_name) || this._table; };
  GlideRecord.prototype.addQuery = function (field, op, value) {
    if (arguments.length === 1) { this._q.push(str(field)); return; }
    if (arguments.length === 2) { value = op; op = '='; }
    if (value instanceof Array) value = value.join(',');
    this._q.push(str(field) + str(op).toUpperCase().replace('NOT IN', 'NOT IN') + str(value));
  };
  GlideRecord.prototype.addEncodedQuery = function (q) { if (str(q) !== '') this._q.push(str(q)); };
  GlideRecord.prototype.addNullQuery = function (f) { this._q.push(str(f) + 'ISEMPTY'); };
  GlideRecord.prototype.addNotNullQuery = function (f) { this._q.push(str(f) + 'ISNOTEMPTY'); };
  GlideRecord.prototype.addActiveQuery = function () { this._q.push('active=true'); };
  GlideRecord.prototype.orderBy = function (f) { this._orders.push('ORDERBY' + str(f)); };
  GlideRecord.prototype.orderByDesc = function (f) { this._orders.push('ORDERBYDESC' + str(f)); };
  GlideRecord.prototype.setLimit = function (n) { this._limit = n | 0; };
  GlideRecord.prototype.setWorkflow = function () {};
  GlideRecord.prototype.autoSysFields = function () {};
  GlideRecord.prototype.getEncodedQuery = function () { return this._q.concat(this._orders).join('^'); };
  GlideRecord.prototype.query = function () {
    this._rows = JSON.parse(__sn_query(this._table, this.getEncodedQuery(), this._limit));
    this._i = -1;
  };
  GlideRecord.prototype.hasNext = function () { return this._rows !== null && this._i + 1 < this._rows.length; };
  GlideRecord.prototype.next = function () {
    if (!this.hasNext()) return false;
    this._i++;
    this._load(this._rows[this._i]);
    return true;
  };
  GlideRecord.prototype._load = function (row) {
    this._v = row;
    this._prev = JSON.parse(JSON.stringify(row));
    this._isNew = false;
  };
  GlideRecord.prototype.getRowCount = function () { return this._rows === null ? 0 : this._rows.length; };
  GlideRecord.prototype.get = function (a, b) {
    var row = null;
    if (arguments.length === 1) {
      var r = __sn_get(this._table, str(a));
      row = r === null ? null : JSON.parse(r);
      if (row === null) {
        var byName = JSON.parse(__sn_query(this._table, 'name=' + str(a), 1));
        row = byName.length ? byName[0] : null;
      }
    } else {
      var rows = JSON.parse(__sn_query(this._table, str(a) + '=' + str(b), 1));
      row = rows.length ? rows[0] : null;
    }
    if (row === null) return false;
    this._rows = [row];
    this._i = 0;
    this._load(row);
    return true;
  };
  GlideRecord.prototype.getValue = function (f) {
    var v = this._v[f];
    if (v === undefined || v === null || v === '') return null;
    var t = this._type(f);
    if (t && t.type === 'boolean') return v === 'true' ? '1' : '0';
    return String(v);
  };
  GlideRecord.prototype.setValue = function (f, v) {
    this._v[f] = v === null || v === undefined ? '' : (typeof v === 'boolean' ? String(v) : str(v));
  };
  GlideRecord.prototype.getDisplayValue = function (f) {
    if (arguments.length === 0) return str(__sn_display(this._table, str(this._v.sys_id)));
    var t = this._type(f);
    if (t && t.type === 'reference' && str(this._v[f]) !== '') return str(__sn_display(t.ref, str(this._v[f])));
    return str(this._v[f]);
  };
  GlideRecord.prototype.getUniqueValue = function () { return str(this._v.sys_id); };
  GlideRecord.prototype.isNewRecord = function () { return this._isNew; };
  GlideRecord.prototype.isValidRecord = function () { return str(this._v.sys_id) !== ''; };
  GlideRecord.prototype.initialize = function () { this._v = {}; this._prev = null; this._isNew = true; };
  GlideRecord.prototype.newRecord = function () { this.initialize(); this._v.sys_id = __sn_guid(); };
  GlideRecord.prototype._changed = function () {
    var out = {};
    for (var k in this._v) {
      if (!this._v.hasOwnProperty(k)) continue;
      if (this._prev === null || str(this._prev[k]) !== str(this._v[k])) out[k] = str(this._v[k]);
    }
    return out;
  };
  GlideRecord.prototype.insert = function () {
    var id = __sn_insert(this._table, JSON.stringify(this._changed()));
    if (id === '') return null;
    this.get(id);
    return id;
  };
  GlideRecord.prototype.update = function () {
    if (this._isNew || str(this._v.sys_id) === '') return this.insert();
    var ok = __sn_update(this._table, str(this._v.sys_id), JSON.stringify(this._changed()));
    if (!ok) return null;
    this.get(str(this._v.sys_id));
    return str(this._v.sys_id);
  };
  GlideRecord.prototype.deleteRecord = function () { return __sn_delete(this._table, str(this._v.sys_id)); };
  GlideRecord.prototype.operation = function () { return this._op; };
  GlideRecord.prototype.setAbortAction = function (b) { this._abort = !!b; };
  GlideRecord.prototype.canRead = function () { return true; };
  GlideRecord.prototype.canWrite = function () { return true; };
  GlideRecord.prototype.canCreate = function () { return true; };
  GlideRecord.prototype.canDelete = function () { return true; };

  /* ---- GlideSystem ---- */
  var gs = {
    getProperty: function (k, alt) {
      var v = __sn_prop(str(k));
      return v === undefined || v === null ? (alt === undefined ? null : alt) : v;
    },
    getUserName: function () { return env.user.name; },
    getUserID: function () { return env.user.id; },
    getUserDisplayName: function () { return env.user.name; },
    hasRole: function (r) {
      if (env.user.roles.indexOf('admin') >= 0) return true;
      var want = str(r).split(',');
      for (var i = 0; i < want.length; i++) if (env.user.roles.indexOf(want[i]) >= 0) return true;
      return false;
    },
    getUser: function () {
      return { getID: gs.getUserID, getName: gs.getUserName, hasRole: gs.hasRole,
               getDisplayName: gs.getUserName };
    },
    info: function (m) { __sn_log('info', fmt(m, Array.prototype.slice.call(arguments, 1))); },
    warn: function (m) { __sn_log('warn', fmt(m, Array.prototype.slice.call(arguments, 1))); },
    error: function (m) { __sn_log('error', fmt(m, Array.prototype.slice.call(arguments, 1))); },
    debug: function (m) { __sn_log('debug', fmt(m, Array.prototype.slice.call(arguments, 1))); },
    log: function (m, src) { __sn_log('info', str(src) ? str(src) + ': ' + str(m) : str(m)); },
    addInfoMessage: function (m) { __sn_log('info', str(m)); },
    addErrorMessage: function (m) { __sn_log('warn', str(m)); },
    generateGUID: function () { return __sn_guid(); },
    nowDateTime: function () { return __sn_now(); },
    now: function () { return __sn_now().substring(0, 10); },
    nil: function (v) { return v === null || v === undefined || str(v) === ''; },
    base64Encode: function (s) { return __sn_b64enc(str(s)); },
    base64Decode: function (s) { return __sn_b64dec(str(s)); },
    eventQueue: function (name) { __sn_log('info', 'event queued (not processed by snowsim): ' + str(name)); },
    getMessage: function (m) { return str(m); },
    isInteractive: function () { return false; },
    include: function () { return true; }
  };

  /* ---- GlideDateTime ---- */
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function formatUTC(d) {
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  function parseUTC(s) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$/.exec(str(s));
    if (!m) return null;
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)));
  }
  function GlideDateTime(v) {
    this._d = v === undefined ? parseUTC(__sn_now()) : (v instanceof GlideDateTime ? new Date(v._d.getTime()) : parseUTC(v));
    if (this._d === null) this._d = new Date(0);
  }
  GlideDateTime.prototype.getValue = function () { return formatUTC(this._d); };
  GlideDateTime.prototype.toString = GlideDateTime.prototype.getValue;
  GlideDateTime.prototype.getDisplayValue = GlideDateTime.prototype.getValue;
  GlideDateTime.prototype.setValue = function (s) { var d = parseUTC(s); if (d) this._d = d; };
  GlideDateTime.prototype.getNumericValue = function () { return this._d.getTime(); };
  GlideDateTime.prototype.setNumericValue = function (ms) { this._d = new Date(ms); };
  GlideDateTime.prototype.addSeconds = function (n) { this._d = new Date(this._d.getTime() + n * 1000); };
  GlideDateTime.prototype.add = function (ms) { this._d = new Date(this._d.getTime() + ms); };
  GlideDateTime.prototype.addDaysUTC = function (n) { this.addSeconds(n * 86400); };
  GlideDateTime.prototype.addDays = GlideDateTime.prototype.addDaysUTC;
  GlideDateTime.prototype.getDate = function () { return this.getValue().substring(0, 10); };
  GlideDateTime.prototype.compareTo = function (o) {
    var a = this._d.getTime(), b = o._d.getTime();
    return a < b ? -1 : a > b ? 1 : 0;
  };
  GlideDateTime.prototype.before = function (o) { return this.compareTo(o) < 0; };
  GlideDateTime.prototype.after = function (o) { return this.compareTo(o) > 0; };
  GlideDateTime.subtract = function (a, b) { return { getNumericValue: function () { return b._d - a._d; } }; };

  /* ---- outbound REST ---- */
  function RESTResponseV2(r) { this._r = r; }
  RESTResponseV2.prototype.getStatusCode = function () { return this._r.status; };
  RESTResponseV2.prototype.getBody = function () { return str(this._r.body); };
  RESTResponseV2.prototype.getHeader = function (n) {
    var h = this._r.headers || {};
    for (var k in h) if (h.hasOwnProperty(k) && k.toLowerCase() === str(n).toLowerCase()) return h[k];
    return null;
  };
  RESTResponseV2.prototype.getHeaders = function () { return this._r.headers || {}; };
  RESTResponseV2.prototype.getAllHeaders = RESTResponseV2.prototype.getHeaders;
  RESTResponseV2.prototype.haveError = function () { return str(this._r.error) !== ''; };
  RESTResponseV2.prototype.getErrorMessage = function () { return str(this._r.error); };
  RESTResponseV2.prototype.getErrorCode = function () { return this._r.error ? 1 : 0; };
  RESTResponseV2.prototype.waitForResponse = function () {};

  function RESTMessageV2(name, method) {
    this._method = 'get';
    this._url = '';
    this._headers = {};
    this._body = '';
    this._query = [];
    this._timeout = 0;
    if (name !== undefined) __sn_log('warn', 'RESTMessageV2 records are not supported; set the endpoint');
  }
  RESTMessageV2.prototype.setEndpoint = function (u) { this._url = str(u); };
  RESTMessageV2.prototype.getEndpoint = function () { return this._url; };
  RESTMessageV2.prototype.setHttpMethod = function (m) { this._method = str(m).toLowerCase(); };
  RESTMessageV2.prototype.setRequestHeader = function (n, v) { this._headers[str(n)] = str(v); };
  RESTMessageV2.prototype.setRequestBody = function (b) { this._body = str(b); };
  RESTMessageV2.prototype.getRequestBody = function () { return this._body; };
  RESTMessageV2.prototype.setQueryParameter = function (n, v) {
    this._query.push(encodeURIComponent(str(n)) + '=' + encodeURIComponent(str(v)));
  };
  RESTMessageV2.prototype.setBasicAuth = function (u, p) {
    this._headers.Authorization = 'Basic ' + __sn_b64enc(str(u) + ':' + str(p));
  };
  RESTMessageV2.prototype.setHttpTimeout = function (ms) { this._timeout = ms | 0; };
  RESTMessageV2.prototype.setLogLevel = function () {};
  RESTMessageV2.prototype.setMIDServer = function () {};
  RESTMessageV2.prototype.setEccParameter = function () {};
  RESTMessageV2.prototype.setEccCorrelator = function () {};
  RESTMessageV2.prototype._request = function (async) {
    var url = this._url;
    if (this._query.length) url += (url.indexOf('?') >= 0 ? '&' : '?') + this._query.join('&');
    return JSON.stringify({ method: this._method.toUpperCase(), url: url, headers: this._headers,
                            body: this._body, timeout: this._timeout, async: async });
  };
  RESTMessageV2.prototype.execute = function () {
    return new RESTResponseV2(JSON.parse(__sn_http(this._request(false))));
  };
  RESTMessageV2.prototype.executeAsync = function () {
    return new RESTResponseV2(JSON.parse(__sn_http(this._request(true))));
  };

  function GlideCertificateEncryption() {}
  GlideCertificateEncryption.prototype.generateMac = function (key, alg, data) {
    return __sn_hmac(str(key), str(alg), str(data));
  };

  /* ---- Scripted REST errors ---- */
  function ServiceError() { this.status = 500; this.message = ''; this.detail = ''; }
  ServiceError.prototype.setStatus = function (s) { this.status = s | 0; };
  ServiceError.prototype.setMessage = function (m) { this.message = str(m); };
  ServiceError.prototype.setDetail = function (d) { this.detail = str(d); };
  function errorType(status) {
    var E = function (msg) { this.status = status; this.message = str(msg); this.detail = ''; };
    E.prototype = new ServiceError();
    return E;
  }

  global.GlideRecord = GlideRecord;
  global.GlideElement = GlideElement;
  global.GlideDateTime = GlideDateTime;
  global.GlideCertificateEncryption = GlideCertificateEncryption;
  global.CertificateEncryption = GlideCertificateEncryption;
  global.GlideStringUtil = { base64Encode: gs.base64Encode, base64Decode: gs.base64Decode };
  global.gs = gs;
  global.sn_ws = { RESTMessageV2: RESTMessageV2, RESTResponseV2: RESTResponseV2 };
  global.sn_ws_err = {
    ServiceError: ServiceError, BadRequestError: errorType(400), NotFoundError: errorType(404),
    ConflictError: errorType(409), NotAcceptableError: errorType(406),
    UnsupportedMediaTypeError: errorType(415)
  };

  /* ---- the record a business rule runs on ---- */
  function recordFrom(table, values, prev, isNew, op) {
    var gr = new GlideRecord(table);
    gr._v = values;
    gr._prev = prev;
    gr._isNew = isNew;
    gr._op = op;
    gr._rows = [values];
    gr._i = 0;
    return gr;
  }
  global.current = null;
  global.previous = null;
  if (env.current) {
    global.current = recordFrom(env.current.table, env.current.values, env.previous,
                                env.operation === 'insert', env.operation);
    if (env.previous) global.previous = recordFrom(env.current.table, env.previous, null, false, env.operation);
  }

  /* ---- Scripted REST request and response ---- */
  global.request = null;
  global.response = null;
  var out = { status: 200, headers: {}, body: undefined, raw: null, error: null, contentType: '' };
  if (env.request) {
    var rq = env.request;
    global.request = {
      pathParams: rq.pathParams, queryParams: rq.queryParams, headers: rq.headers,
      queryString: rq.queryString, uri: rq.uri, url: rq.url,
      body: { dataString: rq.body, get data() { return rq.body === '' ? null : JSON.parse(rq.body); } },
      getHeader: function (n) { return rq.headers[str(n).toLowerCase()] || null; }
    };
    global.response = {
      setStatus: function (s) { out.status = s | 0; },
      setHeader: function (n, v) { out.headers[str(n)] = str(v); },
      setHeaders: function (h) { for (var k in h) if (h.hasOwnProperty(k)) out.headers[k] = str(h[k]); },
      setContentType: function (t) { out.contentType = str(t); },
      setLocation: function (u) { out.headers.Location = str(u); },
      setBody: function (b) { out.body = b; },
      setError: function (e) { out.error = e; },
      getStreamWriter: function () {
        out.raw = out.raw || '';
        return { writeString: function (s) { out.raw += str(s); } };
      }
    };
  }

  global.__sn_export = function (ret) {
    if (ret !== undefined && out.body === undefined && out.raw === null) out.body = ret;
    var err = out.error;
    if (err && typeof err === 'object')
      err = { status: err.status | 0 || 500, message: str(err.message), detail: str(err.detail) };
    return JSON.stringify({
      current: global.current ? global.current._v : null,
      abort: global.current ? global.current._abort : false,
      response: { status: out.status, headers: out.headers, body: out.body === undefined ? null : out.body,
                  raw: out.raw, error: err, contentType: out.contentType }
    });
  };
})(this);
