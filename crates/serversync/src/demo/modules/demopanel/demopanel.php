<?php
/**
 * demopanel: the WHMCS server module of `serversync demo`, written as the WHMCS developer
 * documentation writes one (the SDK's sample provisioning module and the "Server Sync" page).
 * serversync runs it unmodified through its PHP shim, as WHMCS would.
 *
 * It lists the accounts of a WHM-style API (`GET /json-api/listaccts?api.version=1` with
 * `Authorization: whm USER:TOKEN`), which the demo serves from a simulator on loopback, and
 * uses what vendor modules use here: Capsule (its own tblservers row), Guzzle, Carbon,
 * logModuleCall and WHMCS\Service\Status. Accounts are identified by their username.
 */

if (!defined("WHMCS")) {
    die("This file cannot be accessed directly");
}

use GuzzleHttp\Client;
use WHMCS\Carbon;
use WHMCS\Database\Capsule;
use WHMCS\Service\Status;

/**
 * Define module related meta data.
 *
 * @return array
 */
function demopanel_MetaData()
{
    return array(
        'DisplayName' => 'Demo Panel (WHMCS module)',
        'APIVersion' => '1.1',
        'RequiresServer' => true,
        'DefaultNonSSLPort' => '2086',
        'DefaultSSLPort' => '2087',
        'ListAccountsUniqueIdentifierDisplayName' => 'Username',
        'ListAccountsUniqueIdentifierField' => 'username',
        'ListAccountsProductField' => 'configoption1',
    );
}

/**
 * Define product configuration options.
 *
 * @return array
 */
function demopanel_ConfigOptions()
{
    return array(
        'Package Name' => array(
            'Type' => 'text',
            'Size' => '25',
            'Description' => 'The package on the panel',
        ),
    );
}

/**
 * Test connection with the given server parameters (not called by Server Sync).
 *
 * @param array $params common module parameters
 *
 * @return array
 */
function demopanel_TestConnection(array $params)
{
    $result = demopanel_ListAccounts($params);
    return array('success' => $result['success'], 'error' => $result['success'] ? '' : $result['error']);
}

/**
 * List the accounts of the server for the Server Sync tool.
 *
 * @param array $params common module parameters (server fields only)
 *
 * @return array
 */
function demopanel_ListAccounts(array $params)
{
    try {
        // Like many vendor modules, read the server's own row rather than $params.
        $server = Capsule::table('tblservers')->where('id', $params['serverid'])->first();
        if (!$server) {
            throw new \Exception('Server ' . $params['serverid'] . ' is not in tblservers');
        }
        $port = $params['serverport'] !== ''
            ? $params['serverport']
            : ($params['serversecure'] ? '2087' : '2086');
        $client = new Client(array(
            'base_uri' => $params['serverhttpprefix'] . '://' . $server->hostname . ':' . $port . '/',
            'timeout' => 60,
            'headers' => array('Authorization' => 'whm ' . $server->username . ':' . $server->accesshash),
        ));
        $response = $client->request('GET', 'json-api/listaccts', array(
            'query' => array('api.version' => 1),
        ));
        $body = json_decode((string) $response->getBody(), true);
        if (!isset($body['metadata']['result']) || (int) $body['metadata']['result'] !== 1) {
            throw new \Exception(isset($body['metadata']['reason'])
                ? $body['metadata']['reason']
                : 'The panel answered something unexpected');
        }

        $accounts = array();
        foreach ($body['data']['acct'] as $acct) {
            $accounts[] = array(
                'email' => $acct['email'],
                'username' => $acct['user'],
                'domain' => $acct['domain'],
                'uniqueIdentifier' => $acct['user'],
                'product' => $acct['plan'],
                'primaryip' => $acct['ip'],
                'created' => $acct['unix_startdate']
                    ? Carbon::createFromTimestamp($acct['unix_startdate'])->toDateTimeString()
                    : '',
                'status' => $acct['suspended'] ? Status::SUSPENDED : Status::ACTIVE,
            );
        }
        logModuleCall(
            'demopanel',
            __FUNCTION__,
            $params,
            count($accounts) . ' accounts',
            $body,
            array($server->accesshash)
        );

        return array('success' => true, 'accounts' => $accounts);
    } catch (\Exception $e) {
        logModuleCall(
            'demopanel',
            __FUNCTION__,
            $params,
            $e->getMessage(),
            $e->getTraceAsString()
        );

        return array('success' => false, 'error' => $e->getMessage());
    }
}
