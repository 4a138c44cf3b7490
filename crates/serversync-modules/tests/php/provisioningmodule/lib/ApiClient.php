<?php

namespace WHMCS\Module\Server\ProvisioningModule;

use GuzzleHttp\Client;

/**
 * The panel's API client, loaded by the WHMCS\Module\Server\<Name>\ autoloader from lib/.
 */
class ApiClient
{
    private $client;

    public function __construct($baseUrl, $username, $password)
    {
        $this->client = new Client(array(
            'base_uri' => rtrim($baseUrl, '/') . '/',
            'auth' => array($username, $password),
            'timeout' => 10,
            'http_errors' => true,
        ));
    }

    /**
     * GET api/v1/$command; the decoded JSON answer.
     */
    public function call($command)
    {
        $response = $this->client->request('GET', 'api/v1/' . $command);
        $data = json_decode((string) $response->getBody(), true);
        if (!is_array($data)) {
            throw new \Exception('The panel answered something that is not JSON');
        }
        return $data;
    }
}
