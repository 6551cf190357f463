// node-quickbooks against the revqb QBO sandbox, changing only the base URLs (issue 15).
// Reads QBO_BASE, QBO_REALM, QBO_CLIENT_ID, QBO_CLIENT_SECRET, QBO_REFRESH_TOKEN; TLS trust comes from
// NODE_EXTRA_CA_CERTS. Prints one JSON object of observations; the pytest module asserts on them.
'use strict';

const QuickBooks = require('node-quickbooks');

const base = process.env.QBO_BASE;
QuickBooks.V3_ENDPOINT_BASE_URL = base + '/v3/company/';
QuickBooks.TOKEN_URL = base + '/oauth2/v1/tokens/bearer';
QuickBooks.REVOKE_URL = base + '/oauth2/v1/tokens/revoke';

const qbo = new QuickBooks(process.env.QBO_CLIENT_ID, process.env.QBO_CLIENT_SECRET, null, false,
  process.env.QBO_REALM, true, false, 75, '2.0', process.env.QBO_REFRESH_TOKEN);

function fault(err) {
  const body = err && err.response ? err.response.data : err;
  const error = body && body.Fault && body.Fault.Error ? body.Fault.Error[0] : null;
  return {
    status: err && err.response ? err.response.status : null,
    code: error ? error.code : null,
    message: error ? error.Message : String(err && err.message),
    detail: error ? error.Detail : null,
  };
}

function call(method, ...args) {
  return new Promise((resolve, reject) => {
    qbo[method](...args, (err, data) => (err ? reject(fault(err)) : resolve(data)));
  });
}

async function expectFault(method, ...args) {
  try {
    await call(method, ...args);
  } catch (f) {
    return f;
  }
  throw new Error(method + ' unexpectedly succeeded');
}

const rows = (data, entity) => (data.QueryResponse[entity] || []);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function line(itemId, qty, price) {
  return {
    Amount: qty * price, DetailType: 'SalesItemLineDetail',
    SalesItemLineDetail: { ItemRef: { value: itemId }, Qty: qty, UnitPrice: price },
  };
}

async function main() {
  const out = { steps: {} };
  const step = (name, value) => { out.steps[name] = value; };

  await call('refreshAccessToken');
  step('token', Boolean(qbo.token));

  // Preferences: every section, sparse update of one nested field
  const prefs = await call('getPreferences');
  step('prefs_sections', Object.keys(prefs).filter((k) => k.endsWith('Prefs')).sort());
  const updated = await call('updatePreferences', {
    Id: prefs.Id, SyncToken: prefs.SyncToken,
    EmailMessagesPrefs: { InvoiceMessage: { Subject: 'Invoice from node' } },
    SalesFormsPrefs: { AllowShipping: true },
  });
  const reread = await call('getPreferences');
  step('prefs_update', {
    synctoken: [prefs.SyncToken, updated.SyncToken],
    subject: reread.EmailMessagesPrefs.InvoiceMessage.Subject,
    message_kept: reread.EmailMessagesPrefs.InvoiceMessage.Message === prefs.EmailMessagesPrefs.InvoiceMessage.Message,
    allow_shipping: reread.SalesFormsPrefs.AllowShipping,
    custom_txn_numbers_kept: reread.SalesFormsPrefs.CustomTxnNumbers === prefs.SalesFormsPrefs.CustomTxnNumbers,
  });

  // The seeded company
  step('seed', {
    vendors: rows(await call('findVendors', { fetchAll: true }), 'Vendor').length,
    employees: rows(await call('findEmployees'), 'Employee').map((e) => e.DisplayName).sort(),
    invoice_1003_balance: rows(await call('findInvoices', { DocNumber: '1003' }), 'Invoice')[0].Balance,
    estimates: rows(await call('findEstimates'), 'Estimate').map((e) => e.TxnStatus).sort(),
    sales_receipts: rows(await call('findSalesReceipts'), 'SalesReceipt').length,
    rock_fountain_sku: rows(await call('findItems', { Name: 'Rock Fountain' }), 'Item')[0].Sku,
    classes: rows(await call('findClasses'), 'Class').length,
    departments: rows(await call('findDepartments'), 'Department').length,
    tax_agencies: rows(await call('findTaxAgencies'), 'TaxAgency').length,
    customers: (await call('findCustomers', { count: true })).QueryResponse.totalCount,
  });

  // Vendor / Employee CRUD and DisplayName uniqueness across people
  const vendor = await call('createVendor', { DisplayName: 'Node Vendor', AcctNum: 'V-000000000042' });
  const vendorRead = await call('getVendor', vendor.Id);
  const vendorUpd = await call('updateVendor', { Id: vendor.Id, SyncToken: vendorRead.SyncToken, CompanyName: 'Node Co' });
  const vendorFound = rows(await call('findVendors', { DisplayName: 'Node Vendor' }), 'Vendor');
  const vendorOff = await call('updateVendor', { Id: vendor.Id, SyncToken: vendorUpd.SyncToken, DisplayName: 'Node Vendor', Active: false });
  const employee = await call('createEmployee', { GivenName: 'Node', FamilyName: 'Worker' });
  const employeeUpd = await call('updateEmployee', { Id: employee.Id, SyncToken: employee.SyncToken, EmployeeNumber: 'N-1' });
  step('people', {
    vendor: [vendor.SyncToken, vendorUpd.SyncToken, vendorUpd.CompanyName, vendorFound.length, vendorOff.Active],
    employee: [employee.DisplayName, employeeUpd.EmployeeNumber, (await call('getEmployee', employee.Id)).SyncToken],
    dup_customer: await expectFault('createCustomer', { DisplayName: 'Books by Bessie' }),
    dup_vendor: await expectFault('createVendor', { DisplayName: 'Emily Platt' }),
    dup_employee: await expectFault('createEmployee', { DisplayName: "Amy's Bird Sanctuary" }),
    dup_item: await expectFault('createItem', { Name: 'Gardening', Type: 'Service', IncomeAccountRef: { value: '15' } }),
  });

  // Name lists and the tax service
  const income = rows(await call('findAccounts', { Name: 'Services' }), 'Account')[0];
  const account = await call('createAccount', { Name: 'Node Income', AccountSubType: 'ServiceFeeIncome', AcctNum: '4100-0000-02' });
  const item = await call('createItem', { Name: 'Node Service', Type: 'Service', Sku: 'NODE-1', UnitPrice: 20, IncomeAccountRef: { value: income.Id } });
  const itemUpd = await call('updateItem', { Id: item.Id, SyncToken: item.SyncToken, Name: 'Node Service', UnitPrice: 25 });
  const klass = await call('createClass', { Name: 'Node Class' });
  const dept = await call('createDepartment', { Name: 'Node Dept' });
  const term = await call('createTerm', { Name: 'Net 21', DueDays: 21 });
  const termOff = await call('updateTerm', { Id: term.Id, SyncToken: term.SyncToken, Name: 'Net 21', Active: false });
  const method = await call('createPaymentMethod', { Name: 'Node Wire' });
  const agency = await call('createTaxAgency', { DisplayName: 'Node Telecom Authority' });
  const taxService = await call('createTaxService', {
    TaxCode: 'Node 911', TaxRateDetails: [{ TaxRateName: 'Node County 911 Fee', RateValue: '2.5', TaxAgencyId: agency.Id }],
  });
  step('lists', {
    account: [account.AcctNum, account.Classification],
    item: [item.Sku, itemUpd.UnitPrice, itemUpd.SyncToken],
    class_dept: [klass.FullyQualifiedName, dept.Name],
    term_off: termOff.Active,
    method: method.Type,
    tax_code: (await call('getTaxCode', taxService.TaxCodeId)).Name,
    long_rate_name: taxService.TaxRateDetails[0].TaxRateName,
  });

  // Transactions: create, read, update, void, delete
  const cust = rows(await call('findCustomers', { DisplayName: 'Kate Whelan' }), 'Customer')[0];
  const inv = await call('createInvoice', { CustomerRef: { value: cust.Id }, DocNumber: 'NODE-1', Line: [line(item.Id, 4, 25)] });
  const invUpd = await call('updateInvoice', { Id: inv.Id, SyncToken: inv.SyncToken, PrivateNote: 'node' });
  const pay = await call('createPayment', {
    CustomerRef: { value: cust.Id }, TotalAmt: 30, Line: [{ Amount: 30, LinkedTxn: [{ TxnId: inv.Id, TxnType: 'Invoice' }] }],
  });
  const partly = (await call('getInvoice', inv.Id)).Balance;
  const payRead = await call('getPayment', pay.Id);
  await call('voidPayment', { Id: pay.Id, SyncToken: payRead.SyncToken });
  const afterVoid = (await call('getInvoice', inv.Id)).Balance;
  await call('deletePayment', pay.Id);
  await call('voidInvoice', inv.Id);
  const voided = await call('getInvoice', inv.Id);
  await call('deleteInvoice', inv.Id);
  const gone = await expectFault('getInvoice', inv.Id);
  step('invoice', {
    total: inv.TotalAmt, update_synctoken: invUpd.SyncToken, partly, after_void: afterVoid,
    voided: [voided.TotalAmt, voided.PrivateNote], gone: gone.code,
  });

  const sr = await call('createSalesReceipt', { CustomerRef: { value: cust.Id }, Line: [line(item.Id, 2, 25)] });
  const srUpd = await call('updateSalesReceipt', { Id: sr.Id, SyncToken: sr.SyncToken, PrivateNote: 'node' });
  await call('deleteSalesReceipt', sr.Id);
  const est = await call('createEstimate', { CustomerRef: { value: cust.Id }, Line: [line(item.Id, 1, 25)] });
  const estUpd = await call('updateEstimate', { Id: est.Id, SyncToken: est.SyncToken, TxnStatus: 'Accepted' });
  await call('deleteEstimate', est.Id);
  const cm = await call('createCreditMemo', { CustomerRef: { value: cust.Id }, Line: [line(item.Id, 1, 25)] });
  await call('deleteCreditMemo', cm.Id);
  const checking = rows(await call('findAccounts', { Name: 'Checking' }), 'Account')[0];
  const rr = await call('createRefundReceipt', {
    CustomerRef: { value: cust.Id }, DepositToAccountRef: { value: checking.Id }, Line: [line(item.Id, 1, 25)],
  });
  await call('deleteRefundReceipt', rr.Id);
  const utilities = rows(await call('findAccounts', { Name: 'Utilities' }), 'Account')[0];
  const jeLine = (posting, acct) => ({
    Amount: 7.5, DetailType: 'JournalEntryLineDetail',
    JournalEntryLineDetail: { PostingType: posting, AccountRef: { value: acct } },
  });
  const je = await call('createJournalEntry', { DocNumber: 'NODE-JE', Line: [jeLine('Debit', utilities.Id), jeLine('Credit', checking.Id)] });
  const jeUpd = await call('updateJournalEntry', { Id: je.Id, SyncToken: je.SyncToken, PrivateNote: 'node' });
  await call('deleteJournalEntry', je.Id);
  step('other_txns', {
    sales_receipt: [sr.TotalAmt, sr.Balance, srUpd.SyncToken],
    estimate: [est.TxnStatus, estUpd.TxnStatus],
    credit_memo: cm.RemainingCredit,
    refund_receipt: rr.TotalAmt,
    journal: [je.TotalAmt, jeUpd.SyncToken],
    left: rows(await call('findJournalEntries', { DocNumber: 'NODE-JE' }), 'JournalEntry').length,
  });

  // Serial client: never throttled at serve's latency
  await sleep(1100);
  let serialThrottled = 0;
  const t0 = Date.now();
  for (let n = 0; n < 30; n++) {
    try { await call('getCustomer', cust.Id); } catch (f) { if (f.status === 429) serialThrottled++; }
  }
  step('serial', { requests: 30, throttled: serialThrottled, per_second: 30000 / (Date.now() - t0) });

  // Parallel burst: 429 (3001) for some, then recovery
  const results = await Promise.all(Array.from({ length: 25 }, () => call('getCustomer', cust.Id)
    .then(() => 'ok').catch((f) => String(f.status) + ':' + f.code)));
  await sleep(1100);
  const recovered = (await call('getCustomer', cust.Id)).DisplayName;
  step('burst', {
    ok: results.filter((r) => r === 'ok').length,
    throttled: results.filter((r) => r === '429:3001').length,
    recovered,
  });
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write('compat failed: ' + JSON.stringify(err && err.message ? err.message : err) + '\n');
  process.exit(1);
});
