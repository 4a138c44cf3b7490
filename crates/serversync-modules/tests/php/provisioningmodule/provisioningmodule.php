<?php
/**
 * A WHMCS server module written as the WHMCS developer documentation shows one (the SDK's
 * sample provisioning module and the "Server Sync" page), cut down to what Server Sync calls:
 * MetaData and ListAccounts. Test fixture of serversync's PHP shim; it uses what real vendor
 * modules use at this point: Capsule (its own tblservers row), Carbon, Guzzle (through a
 * class of its lib/ folder), logModuleCall and WHMCS\Service\Status.
 */

if (!defined("WHMCS")) {
    die("This file cannot be accessed directly");
}

use WHMCS\Carbon;
use WHMCS\Database\Capsule;
use WHMCS\Module\Server\ProvisioningModule\ApiClient;
use WHMCS\Service\Status;

/**
 * Define module related meta data.
 *
 * @return array
 */
function provisioningmodule_MetaData()
{
    return array(
        'DisplayName' => 'Demo Provisioning Module',
        'APIVersion' => '1.1',
        'RequiresServer' => true,
        'DefaultNonSSLPort' => '1111',
        'DefaultSSLPort' => '1112',
        'ServiceSingleSignOnLabel' => 'Login to Panel as User',
        'ListAccountsUniqueIdentifierDisplayName' => 'Domain',
        'ListAccountsUniqueIdentifierField' => 'domain',
        'ListAccountsProductField' => 'configoption1',
    );
}

/**
 * Define product configuration options.
 *
 * @return array
 */
function provisioningmodule_ConfigOptions()
{
    return array(
        'Package Name' => array(
            'Type' => 'text',
            'Size' => '25',
            'Description' => 'The plan on the panel',
        ),
    );
}

/**
 * Provision a new account (not called by Server Sync).
 *
 * @param array $params common module parameters
 *
 * @return string "success" or an error message
 */
function provisioningmodule_CreateAccount(array $params)
{
    return 'success';
}

/**
 * List the accounts of the server for the Server Sync tool.
 *
 * @param array $params common module parameters (server fields only)
 *
 * @return array
 */
function provisioningmodule_ListAccounts(array $params)
{
    try {
        // The module reads its own server row, as vendor modules do.
        $server = Capsule::table('tblservers')->where('id', $params['serverid'])->first();
        if (!$server) {
            throw new \Exception('Server ' . $params['serverid'] . ' is not in tblservers');
        }
        $api = new ApiClient(
            $params['serverhttpprefix'] . '://' . $server->hostname . ':' . $params['serverport'],
            $server->username,
            decrypt($server->password)
        );
        $data = $api->call('accounts');

        $accounts = array();
        foreach ($data['accounts'] as $account) {
            $accounts[] = array(
                'email' => $account['email'],
                'username' => $account['user'],
                'domain' => $account['domain'],
                'uniqueIdentifier' => $account['domain'],
                'product' => $account['plan'],
                'primaryip' => $account['ip'],
                'created' => Carbon::createFromTimestamp($account['created'])->format('Y-m-d H:i:s'),
                'status' => $account['suspended'] ? Status::SUSPENDED : Status::ACTIVE,
            );
        }
        logModuleCall(
            'provisioningmodule',
            __FUNCTION__,
            $params,
            count($accounts) . ' accounts for ' . $server->username . ' on ' . $server->hostname,
            $data,
            array($params['serverusername'])
        );

        return array('success' => true, 'accounts' => $accounts);
    } catch (\Exception $e) {
        logModuleCall(
            'provisioningmodule',
            __FUNCTION__,
            $params,
            $e->getMessage(),
            $e->getTraceAsString()
        );

        return array('success' => false, 'error' => $e->getMessage());
    }
}
