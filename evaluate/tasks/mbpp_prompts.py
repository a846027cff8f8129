"""OpenCompass ``sanitized_mbpp_gen_742f0c`` base template, exact (OC@2954913d; PROTOCOLS_MORE X2,
1,596 characters, sha256 cd32cf35...): three shots as ``[BEGIN]\\n '<code>'\\n[DONE]``, then the
query's ``{text}`` and ``{test_list}`` (filled with ``str.replace``), with no ``[BEGIN]`` after it.
"""

from __future__ import annotations

OC_SANITIZED_TEMPLATE = (
    'You are an expert Python programmer, and here is your task: Write a function to '
    'find the similar elements from the given two tuple lists. Your code should pass '
    'these tests:\n\nassert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n'
    'assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\nassert '
    "similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n\n[BEGIN]\n 'def "
    'similar_elements(test_tup1, test_tup2):\n    res = tuple(set(test_tup1) & '
    "set(test_tup2))\n    return (res)'\n[DONE]\n\n\nYou are an expert Python "
    'programmer, and here is your task: Write a python function to identify non-prime '
    'numbers. Your code should pass these tests:\n\nassert is_not_prime(2) == False\n'
    'assert is_not_prime(10) == True\nassert is_not_prime(35) == True\n\n[BEGIN]\n '
    "'def is_not_prime(n):\n    result = False\n    for i in range(2,int(math.sqrt(n)) "
    "+ 1):\n        if n % i == 0:\n            result = True\n    return result'\n"
    '[DONE]\n\n\nYou are an expert Python programmer, and here is your task: Write a '
    'function to find the largest integers from a given list of numbers using heap '
    'queue algorithm. Your code should pass these tests:\n\nassert heap_queue_largest( '
    '[25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65]\nassert heap_queue_largest( '
    '[25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75]\nassert heap_queue_largest( '
    "[25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]\n\n[BEGIN]\n 'def "
    'heap_queue_largest(nums,n):\n    largest_nums = hq.nlargest(n, nums)\n    return '
    "largest_nums'\n[DONE]\n\n\nYou are an expert Python programmer, and here is your "
    'task: {text} Your code should pass these tests:\n\n{test_list}'
)
